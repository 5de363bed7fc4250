// Recording a clip from the camera with MediaRecorder: video only (lip reading needs no sound),
// stopped by itself after the chosen length, or earlier when it would outgrow the upload limit.

/** Containers the gateway takes, in order of preference; VP8 is the cheapest to encode live. */
const FORMATS = [
  { type: 'video/webm;codecs=vp8', extension: '.webm' },
  { type: 'video/webm;codecs=vp9', extension: '.webm' },
  { type: 'video/webm', extension: '.webm' },
  { type: 'video/mp4', extension: '.mp4' },
];

export const cameraAvailable = () => Boolean(navigator.mediaDevices?.getUserMedia) && typeof MediaRecorder !== 'undefined';

const recordingFormat = () => FORMATS.find((f) => MediaRecorder.isTypeSupported(f.type));

/** What went wrong with the camera, in words a person can act on. */
export function describeCameraError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was refused. Allow the camera for this site in the browser, then try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found.';
    case 'NotReadableError':
      return 'The camera is in use by another application.';
    default:
      return err?.message || 'Recording failed.';
  }
}

/**
 * Opens the camera and records at once (so a recording starts where the camera's picture does).
 * @param {{ seconds: number, maxBytes: number, onTick?: (remainingS: number) => void }} options
 * @returns {Promise<{ stream: MediaStream, stop: () => void, done: Promise<{ blob: Blob, name: string, durationS: number }> }>}
 */
export async function startRecording({ seconds, maxBytes, onTick }) {
  const format = recordingFormat();
  if (!format) throw new Error('This browser cannot record video in a format Talkie takes (WebM or MP4).');
  // The camera's own resolution: scaling would change the picture the model reads.
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  let recorder;
  try {
    recorder = new MediaRecorder(stream, { mimeType: format.type });
  } catch (err) {
    stream.getTracks().forEach((t) => t.stop());
    throw err;
  }
  const chunks = [];
  let bytes = 0;
  let tooLarge = false;
  let started = 0;
  let timer;
  let ticker;
  const stop = () => {
    if (recorder.state !== 'inactive') recorder.stop();
  };
  const release = () => {
    clearTimeout(timer);
    clearInterval(ticker);
    stream.getTracks().forEach((t) => t.stop());
  };
  recorder.addEventListener('dataavailable', (e) => {
    if (!e.data.size) return;
    chunks.push(e.data);
    bytes += e.data.size;
    if (bytes > maxBytes) {
      tooLarge = true;
      stop();
    }
  });
  const done = new Promise((resolve, reject) => {
    recorder.addEventListener('stop', () => {
      release();
      if (tooLarge) return reject(new Error('The recording grew past the upload limit; record a shorter clip.'));
      const durationS = (performance.now() - started) / 1000;
      resolve({ blob: new Blob(chunks, { type: recorder.mimeType || format.type }), name: `recording${format.extension}`, durationS });
    });
    recorder.addEventListener('error', (e) => {
      release();
      reject(e.error ?? new Error('Recording failed.'));
    });
  });
  // Data every second, so the size guard acts while recording rather than after.
  recorder.start(1000);
  started = performance.now();
  timer = setTimeout(stop, seconds * 1000);
  if (onTick) {
    onTick(seconds);
    ticker = setInterval(() => onTick(Math.max(0, seconds - (performance.now() - started) / 1000)), 250);
  }
  return { stream, stop, done };
}
