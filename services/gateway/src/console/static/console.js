// The Talkie web console: sign in with an API key, upload or record a clip, follow it live, read
// and download the transcript, manage the tenant's jobs. Plain DOM code: every piece of text from
// the API goes in with textContent, never as HTML (the page enforces Trusted Types).
import { Api, ApiError, delay, MAX_RECONNECTS, TERMINAL } from './api.js';
import { cameraAvailable, describeCameraError, startRecording } from './recorder.js';

const $ = (id) => document.getElementById(id);
const ui = {
  correct: $('correct-with-llm'),
  correctOption: $('correct-option'),
  correctHelp: $('correct-help'),
  alternativesCount: $('alternatives-count'),
  faceChoice: $('face-choice'),
  warnings: $('warnings'),
  trackOption: $('track-option'),
  trackChoice: $('track-choice'),
  confidenceHelp: $('confidence-help'),
  alternativesToggle: $('alternatives-toggle'),
  alternatives: $('alternatives'),
  videoPanel: $('video-panel'),
  jobVideo: $('job-video'),
  faceBox: $('face-box'),
  faceHelp: $('face-help'),
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
  jobTitle: $('job-title'),
  jobFacts: $('job-facts'),
  jobStatus: $('job-status'),
  jobProgress: $('job-progress'),
  transcripts: $('transcripts'),
  rawTitle: $('raw-title'),
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
  /** file names of the jobs sent from this tab, by job id: the API keeps no client file name */
  names: new Map(),
  /** the clips sent from this tab, by job id, for the video beside the transcript (the API serves no upload back) */
  clips: new Map(),
  /** the video shown: { jobId, url } */
  video: null,
  /** the words shown (the result's, or one face track's with face=all), and the one hovered */
  words: [],
  hovered: null,
  historyCursor: null,
  /** bumps on every refresh, so a slow page of an older one is dropped */
  historyGeneration: 0,
};

// ---------------------------------------------------------------------------------------------
// Messages

const showError = (message) => {
  // a confirmation left from before ("Signed in.") must not sit under a new error
  ui.notice.textContent = '';
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

/**
 * An API error as a sentence, with what to do about it. Only a 429 or 503 with Retry-After says
 * when to try again (api.js keeps retryAfterS for those alone); other errors say what to do instead.
 */
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
    case 'network_error':
      return err.message;
    default:
      if (err.status >= 500 && !later) return `${err.message} (${err.code}) The gateway had a problem; if it keeps happening, tell its operator.`;
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
  hideVideo();
  state.clips.clear();
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
  ui.videoFile.accept = [...limits.extensions, 'video/*'].join(',');
  showCorrectionOption(limits.correction);
  ui.recordSeconds.max = String(limits.max_duration_s);
  if (Number(ui.recordSeconds.value) > limits.max_duration_s) ui.recordSeconds.value = String(limits.max_duration_s);
}

/**
 * The LLM option only where the gateway says a language model runs. Ticked or not, the choice is
 * sent (correct=true/false), so what the box shows is what happens; it starts as the account's
 * default.
 */
function showCorrectionOption(correction) {
  const available = correction?.available === true;
  ui.correctOption.hidden = !available;
  ui.correctHelp.hidden = !available;
  ui.correct.checked = available && correction.by_default === true;
  ui.correctHelp.textContent = `Rewrites the transcript into sentences with punctuation; the raw reading stays beside it. ${
    correction?.by_default ? 'Ticked by default for your account.' : 'Unticked by default for your account.'
  }`;
}

/** What the upload asks for: the box's state where it is shown, the account's default otherwise. */
const correctChoice = () => (ui.correctOption.hidden ? undefined : ui.correct.checked);

/** Issue 17: the readings and the face the upload asks for (api.js leaves out what is the default). */
const readChoices = () => ({
  alternatives: ui.alternativesCount.value ? Number(ui.alternativesCount.value) : undefined,
  face: /^\d$/.test(ui.faceChoice.value) ? Number(ui.faceChoice.value) : ui.faceChoice.value,
});

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
  showFacts({}, name);
  setProgress('Uploading: 0%', 0);
  setSending(true);
  // On a phone the job's section is screens below the form: bring it into view, and move focus
  // there so that a screen reader follows too.
  bringIntoView(ui.jobTitle);
  let job;
  try {
    job = await state.api.upload(blob, name, (fraction) => setProgress(`Uploading: ${Math.floor(fraction * 100)}%`, fraction * 100), abort.signal, { correct: correctChoice(), ...readChoices() });
  } catch (err) {
    if (isAbort(err)) return false;
    setProgress('Upload failed.', 0);
    fail(err);
    return false;
  } finally {
    setSending(false);
  }
  state.names.set(job.id, name);
  state.clips.set(job.id, blob);
  showJob(job);
  refreshHistory();
  follow(job.id, abort);
  return true;
}

/** Scrolls `heading` to the top and focuses it (it has tabindex="-1"), without a second jump. */
function bringIntoView(heading) {
  heading.scrollIntoView({ block: 'start' });
  heading.focus({ preventScroll: true });
}

async function follow(id, abort) {
  try {
    const update = (job) => {
      if (!abort.signal.aborted) showJob(job);
    };
    const reconnecting = ({ attempt, of, delayMs }) => {
      if (!abort.signal.aborted) ui.jobStatus.textContent = `Lost the live view; trying again in ${Math.ceil(delayMs / 1000)} s (${attempt} of ${of}).`;
    };
    let final = await state.api.follow(id, update, abort.signal, reconnecting);
    if (final.status === 'completed') {
      notify('Transcript ready.');
      bringIntoView(ui.rawTitle);
    }
    // A correction may still be under way once the transcript is there: look again now and then.
    for (let wait = 1000; final.correction?.status === 'pending' && wait <= 64_000; wait *= 2) {
      await delay(wait, abort.signal);
      final = await state.api.getJob(id, abort.signal);
      update(final);
    }
    refreshHistory();
  } catch (err) {
    if (isAbort(err) || abort.signal.aborted) return;
    if (err instanceof ApiError && (err.status === 0 || err.status === 429 || err.status >= 500)) {
      ui.jobStatus.textContent = 'Not following this job any more.';
      showError(`Lost the live view of this job after ${MAX_RECONNECTS} tries (${err.message.replace(/\.$/, '')}, ${err.code}). The job goes on in the gateway: open it from the history to look again.`);
      return;
    }
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

/**
 * What the job is, beside its status: the file it came from (when this tab sent it), then the
 * result's duration and model. A list of label/value pairs, so that more facts slot in.
 */
function jobFacts(job, name = state.names.get(job.id)) {
  const facts = [];
  if (name) facts.push(['File', name]);
  if (job.result?.duration_s !== undefined) facts.push(['Duration', formatSeconds(Math.round(job.result.duration_s * 10) / 10)]);
  if (job.result?.model) facts.push(['Model', `${job.result.model.name} ${job.result.model.version}`]);
  if (job.created_at) facts.push(['Sent', formatTime(job.created_at)]);
  return facts;
}

function showFacts(job, name) {
  const items = jobFacts(job, name).flatMap(([label, value]) => [element('dt', { textContent: label }), element('dd', { textContent: value })]);
  ui.jobFacts.replaceChildren(...items);
  ui.jobFacts.hidden = items.length === 0;
}

function showJob(job) {
  state.job = job;
  ui.job.hidden = false;
  showFacts(job);
  setProgress((STATUS_TEXT[job.status] ?? (() => job.status))(job), job.status === 'completed' ? 100 : job.progress);
  if (job.status === 'failed') showError(`The job failed: ${job.error?.message ?? 'unknown error'} (${job.error?.code ?? 'failed'})`);
  const completed = job.status === 'completed' && job.result;
  ui.transcripts.hidden = !completed;
  ui.downloads.hidden = !completed;
  if (completed) showResult(job);
  else ui.warnings.hidden = true;
}

/** The completed job's transcript(s): the raw reading, and the LLM's correction beside it. */
function showResult(job) {
  const { result } = job;
  showWarnings(result.warnings);
  showTrackChoice(result, job.id);
  showReading(readingOf(result, ui.trackOption.hidden ? undefined : Number(ui.trackChoice.value)));
  showAlternatives(result.alternatives);
  showVideo(job);
  // LLM correction, where the gateway does it: the corrected text beside the raw one, and how it went.
  const corrected = correctedText(job);
  ui.corrected.hidden = corrected === undefined && !job.correction;
  ui.correctedText.hidden = corrected === undefined;
  ui.copyCorrected.hidden = corrected === undefined;
  ui.correctedText.textContent = corrected ?? '';
  ui.correctionStatus.textContent = job.correction ? correctionText(job.correction) : '';
}

// ---------------------------------------------------------------------------------------------
// Issue 17: warnings, word confidence, other readings, faces

function showWarnings(warnings = []) {
  ui.warnings.replaceChildren(...warnings.map((w) => element('li', {}, element('code', { textContent: w.code }), ' ', w.message)));
  ui.warnings.hidden = warnings.length === 0;
}

/**
 * Confidence bands: sure words are plain; the others are shaded (a tinted background, lighter
 * text, an underline: not colour alone), stronger the less sure. The model's score is not a
 * probability, so the bands only rank words; the value itself is in each word's title.
 */
const SURE = 0.9;
const UNSURE = 0.6;
const band = (confidence) => (confidence === undefined || confidence >= SURE ? 'sure' : confidence >= UNSURE ? 'unsure' : 'doubtful');
const score = (confidence) => confidence.toFixed(2);

/** With face=all: which face's reading to show (the result's own first: the active speaker). */
function showTrackChoice(result, jobId) {
  const tracks = result.tracks ?? [];
  ui.trackOption.hidden = tracks.length < 2;
  if (ui.trackOption.hidden) return;
  const read = result.face_track?.index;
  // the same job shown again (a correction arriving): keep the face chosen
  const previous = ui.trackChoice.dataset.jobId === jobId ? ui.trackChoice.value : undefined;
  ui.trackChoice.dataset.jobId = jobId;
  // short labels: a closed select shows one line, cut at its width on a phone; the reading is shown below it
  ui.trackChoice.replaceChildren(
    ...tracks.map((t) => element('option', { value: String(t.face), textContent: `Face ${t.face}${t.face === read ? ', the one speaking' : ''}${t.text ? '' : ' (nothing read)'}` })),
  );
  ui.trackChoice.value = tracks.some((t) => String(t.face) === previous) ? previous : String(read ?? tracks[0].face);
}

/** The words of face `face` (undefined: the result's own), as faceReading in the gateway picks them. */
function readingOf(result, face) {
  if (face === undefined || result.face_track?.index === face) return result;
  return result.tracks?.find((t) => t.face === face) ?? result;
}

/** The transcript, one span per word shaded by its confidence, and a sentence on the least sure. */
function showReading(reading) {
  const segments = reading.segments ?? [];
  state.words = segments;
  state.hovered = null;
  // words as spans only where they make the text (they always do for the model's own reading)
  if (!segments.length || segments.map((s) => s.text).join(' ') !== reading.text) {
    ui.rawText.textContent = reading.text;
    state.words = [];
  } else {
    ui.rawText.replaceChildren(...segments.flatMap((segment, i) => (i ? [' ', wordNode(segment, i)] : [wordNode(segment, i)])));
  }
  const scored = state.words.filter((s) => s.confidence !== undefined);
  ui.confidenceHelp.hidden = scored.length === 0;
  if (scored.length) {
    const least = scored.reduce((a, b) => (b.confidence < a.confidence ? b : a));
    ui.confidenceHelp.textContent =
      band(least.confidence) === 'sure'
        ? `The model was sure of every word (the least: “${least.text}”, ${score(least.confidence)}).`
        : `Shaded, underlined words are the ones the model was less sure of; the least: “${least.text}”, ${score(least.confidence)}. Point at a word for its score.`;
  }
  placeFaceBox();
}

function wordNode(segment, index) {
  const node = element('span', { className: `word ${band(segment.confidence)}`, textContent: segment.text });
  node.dataset.index = String(index);
  if (segment.confidence !== undefined) node.dataset.confidence = score(segment.confidence);
  node.title = segment.confidence === undefined ? `${segment.text}: no confidence score` : `${segment.text}: confidence ${score(segment.confidence)}`;
  return node;
}

function showAlternatives(alternatives = []) {
  ui.alternativesToggle.hidden = alternatives.length < 2;
  ui.alternativesToggle.textContent = `Other readings (${Math.max(0, alternatives.length - 1)})`;
  ui.alternativesToggle.setAttribute('aria-expanded', 'false');
  ui.alternatives.hidden = true;
  ui.alternatives.replaceChildren(
    ...alternatives.map((a, i) =>
      element('li', {}, element('span', { className: 'reading', textContent: a.text || '(nothing)' }), ' ', element('span', { className: 'score', textContent: `${i === 0 ? 'shown above · ' : ''}log score ${a.score.toFixed(2)}` })),
    ),
  );
}

ui.alternativesToggle.addEventListener('click', () => {
  const open = ui.alternatives.hidden;
  ui.alternatives.hidden = !open;
  ui.alternativesToggle.setAttribute('aria-expanded', String(open));
});

ui.trackChoice.addEventListener('change', () => {
  if (state.job?.result) showReading(readingOf(state.job.result, Number(ui.trackChoice.value)));
});

/** The clip beside the transcript, when this tab sent it (an object URL, revoked when another is shown). */
function showVideo(job) {
  const clip = state.clips.get(job.id);
  if (state.video?.jobId !== job.id) {
    if (state.video) URL.revokeObjectURL(state.video.url);
    state.video = clip ? { jobId: job.id, url: URL.createObjectURL(clip) } : null;
    if (state.video) ui.jobVideo.src = state.video.url;
    else ui.jobVideo.removeAttribute('src');
  }
  ui.videoPanel.hidden = !clip;
  const faces = job.result.faces ?? [];
  ui.faceHelp.textContent = state.words.some((w) => w.face)
    ? `The box marks the face each word was read from${faces.length > 1 ? ` (${faces.length} faces found)` : ''}: play the clip, or point at a word.`
    : '';
  placeFaceBox();
}

function hideVideo() {
  if (state.video) URL.revokeObjectURL(state.video.url);
  state.video = null;
  ui.jobVideo.removeAttribute('src');
  ui.videoPanel.hidden = true;
}

/** The word the face box follows: the one pointed at, else the one playing. */
function currentWord() {
  if (state.hovered !== null) return state.words[state.hovered];
  const t = ui.jobVideo.currentTime;
  return state.words.find((w) => t >= w.start && t < w.end);
}

/**
 * Draws the current word's face box over the video: from source pixels to the displayed size,
 * within the picture as the video element fits it (object-fit: contain, so bars on either side).
 */
function placeFaceBox() {
  const word = currentWord();
  for (const node of ui.rawText.querySelectorAll('.word.current')) node.classList.remove('current');
  if (word) ui.rawText.querySelector(`.word[data-index="${state.words.indexOf(word)}"]`)?.classList.add('current');
  const video = ui.jobVideo;
  const box = word?.face;
  if (!box || ui.videoPanel.hidden || !video.videoWidth || !video.clientWidth) {
    ui.faceBox.hidden = true;
    return;
  }
  const scale = Math.min(video.clientWidth / video.videoWidth, video.clientHeight / video.videoHeight);
  const left = video.offsetLeft + (video.clientWidth - video.videoWidth * scale) / 2;
  const top = video.offsetTop + (video.clientHeight - video.videoHeight * scale) / 2;
  // style properties set from script, which the page's CSP (no inline styles) allows
  Object.assign(ui.faceBox.style, {
    left: `${left + box.x * scale}px`,
    top: `${top + box.y * scale}px`,
    width: `${box.width * scale}px`,
    height: `${box.height * scale}px`,
  });
  ui.faceBox.hidden = false;
}

for (const event of ['timeupdate', 'seeked', 'loadedmetadata', 'emptied']) ui.jobVideo.addEventListener(event, placeFaceBox);
window.addEventListener('resize', placeFaceBox);
ui.rawText.addEventListener('mouseover', (event) => {
  const word = event.target.closest?.('.word');
  state.hovered = word ? Number(word.dataset.index) : null;
  placeFaceBox();
});
ui.rawText.addEventListener('mouseleave', () => {
  state.hovered = null;
  placeFaceBox();
});

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
    // with face=all, the captions of the face shown
    const face = ui.trackOption.hidden ? undefined : ui.trackChoice.value;
    save(await state.api.result(state.job.id, format, face), `${state.job.id}${face === undefined ? '' : `.face-${face}`}.${format}`);
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
  const facts = element('p', { className: 'facts', textContent: jobFacts(job).filter(([label]) => label !== 'Sent').map(([, value]) => value).join(' · ') });
  const snippet = element('p', { className: 'snippet', textContent: job.result?.text ?? (job.error ? job.error.message : '') });
  const item = element('li', { className: 'history-item' }, element('div', { className: 'history-main' }, badge, ' ', time, facts, snippet), element('div', { className: 'buttons' }, open, remove));
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
    bringIntoView(ui.jobTitle);
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
        hideVideo();
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
