// The Talkie web console: sign in with an API key, upload or record a clip, follow it live, read
// and download the transcript, manage the tenant's jobs. Plain DOM code: every piece of text from
// the API goes in with textContent, never as HTML (the page enforces Trusted Types).
import { Api, ApiError, delay, TERMINAL } from './api.js';
import { cameraAvailable, describeCameraError, startRecording } from './recorder.js';

const $ = (id) => document.getElementById(id);
const ui = {
  correct: $('correct-with-llm'),
  error: $('error'),
  notice: $('notice'),
  signOut: $('sign-out'),
  signIn: $('sign-in'),
  signInForm: $('sign-in-form'),
  apiKey: $('api-key'),
  workspace: $('workspace'),
  limits: $('limits'),
  uploadForm: $('upload-form'),
  videoFile: $('video-file'),
  uploadSubmit: $('upload-submit'),
  recordForm: $('record-form'),
  recordSeconds: $('record-seconds'),
  recordStart: $('record-start'),
  recordStop: $('record-stop'),
  recordTimer: $('record-timer'),
  cameraPreview: $('camera-preview'),
  recording: $('recording'),
  recordingPreview: $('recording-preview'),
  recordingUpload: $('recording-upload'),
  recordingDiscard: $('recording-discard'),
  job: $('job'),
  jobStatus: $('job-status'),
  jobProgress: $('job-progress'),
  transcripts: $('transcripts'),
  rawText: $('raw-text'),
  copyRaw: $('copy-raw'),
  corrected: $('corrected'),
  correctionStatus: $('correction-status'),
  correctedText: $('corrected-text'),
  copyCorrected: $('copy-corrected'),
  downloads: $('downloads'),
  history: $('history'),
  historyEmpty: $('history-empty'),
  historyMore: $('history-more'),
  historyRefresh: $('history-refresh'),
};

const state = {
  /** @type {Api | null} */
  api: null,
  limits: null,
  /** the job shown in the Transcription section */
  job: null,
  /** aborts the upload or event stream of the job shown */
  jobAbort: null,
  /** the recording in progress */
  recorder: null,
  /** the finished recording waiting to be sent: { blob, name, url } */
  recorded: null,
  historyCursor: null,
  /** bumps on every refresh, so a slow page of an older one is dropped */
  historyGeneration: 0,
};

// ---------------------------------------------------------------------------------------------
// Messages

const showError = (message) => {
  ui.error.textContent = message;
};
const clearError = () => {
  ui.error.textContent = '';
};
const notify = (message) => {
  ui.notice.textContent = message;
};

const MiB = 1024 * 1024;
const formatBytes = (n) => (n >= MiB ? `${(n / MiB).toFixed(n % MiB ? 1 : 0)} MiB` : `${Math.ceil(n / 1024)} KiB`);
const formatSeconds = (s) => `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
const formatTime = (iso) => new Date(iso).toLocaleString();

/** An API error as a sentence, with what to do about it. */
function describe(err) {
  if (!(err instanceof ApiError)) return err?.message || String(err);
  const later = err.retryAfterS !== undefined ? ` Try again in ${Math.max(1, Math.ceil(err.retryAfterS))} s.` : '';
  switch (err.code) {
    case 'unauthorized':
      return 'The gateway did not accept this API key. Check that it was copied whole and has not been revoked.';
    case 'forbidden':
      return 'This API key lacks a scope the console needs: it must have jobs:read and jobs:write.';
    case 'rate_limited':
      return `Too many requests for now.${later || ' Wait a moment and try again.'}`;
    default:
      return `${err.message}${later} (${err.code})`;
  }
}

/** Reports an error; a key that stops working mid-session (revoked) signs the console out. */
function fail(err) {
  if (err instanceof ApiError && err.status === 401 && state.api) {
    signOut();
    showError('Your API key is no longer accepted. Sign in again.');
    return;
  }
  showError(describe(err));
}

const isAbort = (err) => err?.name === 'AbortError';

// ---------------------------------------------------------------------------------------------
// Signing in and out

ui.signInForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  const key = ui.apiKey.value.trim();
  if (!key) {
    ui.apiKey.setAttribute('aria-invalid', 'true');
    showError('Enter your API key.');
    ui.apiKey.focus();
    return;
  }
  const button = ui.signInForm.querySelector('button[type="submit"]');
  button.disabled = true;
  notify('Signing in…');
  const api = new Api(key);
  try {
    // Reading the limits checks the key, and the console needs them before any upload.
    state.limits = await api.limits();
  } catch (err) {
    notify('');
    ui.apiKey.setAttribute('aria-invalid', 'true');
    showError(describe(err));
    ui.apiKey.focus();
    return;
  } finally {
    button.disabled = false;
  }
  state.api = api;
  ui.apiKey.value = '';
  ui.apiKey.removeAttribute('aria-invalid');
  showLimits(state.limits);
  ui.signIn.hidden = true;
  ui.workspace.hidden = false;
  ui.signOut.hidden = false;
  notify('Signed in.');
  ui.videoFile.focus();
  refreshHistory();
});

function signOut() {
  state.jobAbort?.abort();
  state.recorder?.stop();
  discardRecording();
  state.api = null;
  state.limits = null;
  state.job = null;
  state.historyGeneration++;
  ui.history.replaceChildren();
  ui.job.hidden = true;
  ui.workspace.hidden = true;
  ui.signOut.hidden = true;
  ui.signIn.hidden = false;
  clearError();
  notify('Signed out.');
  ui.apiKey.focus();
}
ui.signOut.addEventListener('click', signOut);

function showLimits(limits) {
  ui.limits.textContent =
    `Videos up to ${formatBytes(limits.max_upload_bytes)} and ${formatSeconds(limits.max_duration_s)}, ` +
    `as ${limits.extensions.join(' ')}.`;
  ui.recordSeconds.max = String(limits.max_duration_s);
  if (Number(ui.recordSeconds.value) > limits.max_duration_s) ui.recordSeconds.value = String(limits.max_duration_s);
}

// ---------------------------------------------------------------------------------------------
// Checks before an upload: the gateway would refuse these anyway, after the whole upload.

/** The video's duration from its metadata, or undefined when this browser cannot read it. */
function probeDuration(blob) {
  return new Promise((resolve) => {
    const video = document.createElement('video');
    const url = URL.createObjectURL(blob);
    let timer;
    const finish = (duration) => {
      clearTimeout(timer);
      video.removeAttribute('src');
      video.load();
      URL.revokeObjectURL(url);
      resolve(Number.isFinite(duration) && duration > 0 ? duration : undefined);
    };
    timer = setTimeout(() => finish(undefined), 5000);
    video.preload = 'metadata';
    video.muted = true;
    video.addEventListener('loadedmetadata', () => finish(video.duration), { once: true });
    video.addEventListener('error', () => finish(undefined), { once: true });
    video.src = url;
  });
}

/** What is wrong with this file for this gateway, or null. */
async function checkClip(blob, name, knownDurationS) {
  const { limits } = state;
  const dot = name.lastIndexOf('.');
  const extension = dot >= 0 ? name.slice(dot).toLowerCase() : '';
  if (!limits.extensions.includes(extension)) {
    return `“${name}” is not a video type Talkie takes. Use one of: ${limits.extensions.join(' ')}.`;
  }
  if (blob.size > limits.max_upload_bytes) {
    return `“${name}” is ${formatBytes(blob.size)}; the largest upload is ${formatBytes(limits.max_upload_bytes)}.`;
  }
  if (blob.size === 0) return `“${name}” is empty.`;
  const duration = knownDurationS ?? (await probeDuration(blob));
  if (duration !== undefined && duration > limits.max_duration_s) {
    return `“${name}” is ${formatSeconds(Math.round(duration * 10) / 10)} long; the longest video is ${formatSeconds(limits.max_duration_s)}.`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Sending a clip and following its job

function setSending(sending) {
  ui.uploadSubmit.disabled = sending;
  ui.recordingUpload.disabled = sending;
}

async function send(blob, name, knownDurationS) {
  clearError();
  const problem = await checkClip(blob, name, knownDurationS);
  if (problem) {
    showError(problem);
    return false;
  }
  state.jobAbort?.abort();
  const abort = new AbortController();
  state.jobAbort = abort;
  state.job = null;
  ui.job.hidden = false;
  ui.transcripts.hidden = true;
  ui.downloads.hidden = true;
  setProgress('Uploading: 0%', 0);
  setSending(true);
  let job;
  try {
    job = await state.api.upload(blob, name, (fraction) => setProgress(`Uploading: ${Math.floor(fraction * 100)}%`, fraction * 100), abort.signal, { correct: ui.correct.checked });
  } catch (err) {
    if (isAbort(err)) return false;
    setProgress('Upload failed.', 0);
    fail(err);
    return false;
  } finally {
    setSending(false);
  }
  showJob(job);
  refreshHistory();
  follow(job.id, abort);
  return true;
}

async function follow(id, abort) {
  try {
    const update = (job) => {
      if (!abort.signal.aborted) showJob(job);
    };
    let final = await state.api.follow(id, update, abort.signal);
    if (final.status === 'completed') notify('Transcript ready.');
    // A correction may still be under way once the transcript is there: look again now and then.
    for (let wait = 1000; final.correction?.status === 'pending' && wait <= 64_000; wait *= 2) {
      await delay(wait, abort.signal);
      final = await state.api.getJob(id, abort.signal);
      update(final);
    }
    refreshHistory();
  } catch (err) {
    if (isAbort(err) || abort.signal.aborted) return;
    fail(err);
  }
}

function setProgress(text, value) {
  ui.jobStatus.textContent = text;
  ui.jobProgress.value = Math.max(0, Math.min(100, value));
}

const STATUS_TEXT = {
  queued: () => 'Queued: waiting for a worker.',
  processing: (job) => `Reading lips: ${job.progress}%`,
  completed: () => 'Done.',
  canceled: () => 'Canceled.',
  failed: (job) => `Failed: ${job.error?.message ?? 'the job could not be processed.'}`,
};

function showJob(job) {
  state.job = job;
  ui.job.hidden = false;
  setProgress((STATUS_TEXT[job.status] ?? (() => job.status))(job), job.status === 'completed' ? 100 : job.progress);
  if (job.status === 'failed') showError(`The job failed: ${job.error?.message ?? 'unknown error'} (${job.error?.code ?? 'failed'})`);
  const completed = job.status === 'completed' && job.result;
  ui.transcripts.hidden = !completed;
  ui.downloads.hidden = !completed;
  if (!completed) return;
  ui.rawText.textContent = job.result.text;
  // LLM correction, where the gateway does it: the corrected text beside the raw one, and how it went.
  const corrected = correctedText(job);
  ui.corrected.hidden = corrected === undefined && !job.correction;
  ui.correctedText.hidden = corrected === undefined;
  ui.copyCorrected.hidden = corrected === undefined;
  ui.correctedText.textContent = corrected ?? '';
  ui.correctionStatus.textContent = job.correction ? correctionText(job.correction) : '';
}

/** The corrected transcript, when there is one (in the result, or beside it). */
function correctedText(job) {
  const text = job.result?.corrected_text ?? job.corrected_text;
  return typeof text === 'string' ? text : undefined;
}

function correctionText(correction) {
  const parts = [`Correction: ${correction.status}`];
  if (correction.reason) parts.push(String(correction.reason).replaceAll('_', ' '));
  if (Array.isArray(correction.changes)) parts.push(`${correction.changes.length} change${correction.changes.length === 1 ? '' : 's'}`);
  return `${parts.join(' · ')}.`;
}

// ---------------------------------------------------------------------------------------------
// Uploading a file

ui.uploadForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = ui.videoFile.files?.[0];
  if (!file) {
    clearError();
    showError('Choose a video file first.');
    ui.videoFile.focus();
    return;
  }
  await send(file, file.name);
});

// ---------------------------------------------------------------------------------------------
// Recording from the camera

function discardRecording() {
  if (state.recorded) URL.revokeObjectURL(state.recorded.url);
  state.recorded = null;
  ui.recordingPreview.removeAttribute('src');
  ui.recordingPreview.load();
  ui.recording.hidden = true;
}

ui.recordForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  if (state.recorder) return;
  const max = state.limits.max_duration_s;
  const seconds = Number(ui.recordSeconds.value);
  if (!(seconds >= 1 && seconds <= max)) {
    ui.recordSeconds.setAttribute('aria-invalid', 'true');
    showError(`Choose a recording length from 1 to ${max} seconds.`);
    ui.recordSeconds.focus();
    return;
  }
  ui.recordSeconds.removeAttribute('aria-invalid');
  if (!cameraAvailable()) {
    showError('This browser cannot record from a camera here (it needs HTTPS, or localhost, and MediaRecorder).');
    return;
  }
  discardRecording();
  ui.recordStart.disabled = true;
  let recorder;
  try {
    recorder = await startRecording({
      seconds,
      maxBytes: state.limits.max_upload_bytes,
      onTick: (left) => {
        ui.recordTimer.textContent = `Recording: ${left.toFixed(1)} s left`;
      },
    });
  } catch (err) {
    ui.recordStart.disabled = false;
    showError(describeCameraError(err));
    return;
  }
  state.recorder = recorder;
  ui.recordStop.disabled = false;
  ui.cameraPreview.srcObject = recorder.stream;
  ui.cameraPreview.hidden = false;
  ui.cameraPreview.play().catch(() => undefined); // the preview is a nicety; recording goes on without it
  notify(`Recording for ${formatSeconds(seconds)}.`);
  try {
    const clip = await recorder.done;
    if (!state.api) return; // signed out meanwhile: nothing to keep
    const url = URL.createObjectURL(clip.blob);
    state.recorded = { ...clip, url };
    ui.recordingPreview.src = url;
    ui.recording.hidden = false;
    notify(`Recorded ${formatSeconds(Math.round(clip.durationS * 10) / 10)}. Play it back, then transcribe or discard it.`);
    ui.recordingUpload.focus();
  } catch (err) {
    showError(describeCameraError(err));
  } finally {
    state.recorder = null;
    ui.recordTimer.textContent = '';
    ui.cameraPreview.srcObject = null;
    ui.cameraPreview.hidden = true;
    ui.recordStart.disabled = false;
    ui.recordStop.disabled = true;
  }
});

ui.recordStop.addEventListener('click', () => state.recorder?.stop());
ui.recordingDiscard.addEventListener('click', () => {
  discardRecording();
  notify('Recording discarded.');
  ui.recordStart.focus();
});
ui.recordingUpload.addEventListener('click', async () => {
  const clip = state.recorded;
  if (!clip) return;
  if (await send(clip.blob, clip.name, clip.durationS)) discardRecording();
});

// ---------------------------------------------------------------------------------------------
// Copying and downloading

async function copy(text, what) {
  clearError();
  try {
    await navigator.clipboard.writeText(text);
    notify(`${what} copied.`);
  } catch {
    showError('Copying is not allowed here; select the text and copy it instead.');
  }
}
ui.copyRaw.addEventListener('click', () => copy(ui.rawText.textContent, 'Transcript'));
ui.copyCorrected.addEventListener('click', () => copy(ui.correctedText.textContent, 'Corrected text'));

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // the download has its own copy by now; a minute is generous
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

ui.downloads.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-format]');
  if (!button || !state.job) return;
  clearError();
  const { format } = button.dataset;
  button.disabled = true;
  try {
    save(await state.api.result(state.job.id, format), `${state.job.id}.${format}`);
  } catch (err) {
    fail(err);
  } finally {
    button.disabled = false;
  }
});

// ---------------------------------------------------------------------------------------------
// History

function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  node.append(...children);
  return node;
}

function historyItem(job) {
  const when = formatTime(job.created_at);
  const terminal = TERMINAL.has(job.status);
  const open = element('button', { type: 'button', className: 'secondary', textContent: 'Open' });
  open.setAttribute('aria-label', `Open the job from ${when}`);
  open.addEventListener('click', () => openJob(job.id));
  const remove = element('button', { type: 'button', className: 'danger', textContent: terminal ? 'Delete' : 'Cancel' });
  remove.setAttribute('aria-label', `${terminal ? 'Delete' : 'Cancel'} the job from ${when}`);
  remove.addEventListener('click', () => removeJob(job, remove));
  const time = element('time', { dateTime: job.created_at, textContent: when });
  const badge = element('span', { className: `badge status-${job.status}`, textContent: job.status });
  const snippet = element('p', { className: 'snippet', textContent: job.result?.text ?? (job.error ? job.error.message : '') });
  const item = element('li', { className: 'history-item' }, element('div', { className: 'history-main' }, badge, ' ', time, snippet), element('div', { className: 'buttons' }, open, remove));
  item.dataset.jobId = job.id;
  return item;
}

async function loadHistory(generation) {
  try {
    const page = await state.api.listJobs(state.historyCursor);
    if (generation !== state.historyGeneration) return;
    ui.history.append(...page.data.map(historyItem));
    state.historyCursor = page.next_cursor;
    ui.historyMore.hidden = !page.next_cursor;
    ui.historyEmpty.hidden = ui.history.children.length > 0;
  } catch (err) {
    if (generation === state.historyGeneration) fail(err);
  }
}

function refreshHistory() {
  if (!state.api) return Promise.resolve();
  const generation = ++state.historyGeneration;
  state.historyCursor = null;
  ui.history.replaceChildren();
  ui.historyEmpty.hidden = true;
  return loadHistory(generation);
}

ui.historyRefresh.addEventListener('click', () => {
  clearError();
  refreshHistory();
});
ui.historyMore.addEventListener('click', () => loadHistory(state.historyGeneration));

async function openJob(id) {
  clearError();
  state.jobAbort?.abort();
  const abort = new AbortController();
  state.jobAbort = abort;
  try {
    const job = await state.api.getJob(id, abort.signal);
    showJob(job);
    ui.job.scrollIntoView({ block: 'start' });
    if (!TERMINAL.has(job.status)) follow(id, abort);
  } catch (err) {
    if (!isAbort(err)) fail(err);
  }
}

async function removeJob(job, button) {
  clearError();
  button.disabled = true;
  try {
    const updated = await state.api.deleteJob(job.id);
    if (state.job?.id === job.id) {
      if (updated) showJob(updated);
      else {
        state.jobAbort?.abort();
        state.job = null;
        ui.job.hidden = true;
      }
    }
    notify(updated ? 'Job canceled.' : 'Job deleted.');
  } catch (err) {
    fail(err);
  }
  await refreshHistory();
  ui.historyRefresh.focus();
}
