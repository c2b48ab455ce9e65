// Speech: a WAV file or a microphone recording → POST /v1/audio/transcriptions (multipart), as
// OpenAI's audio API takes it. The server's own error is shown as it is, e.g. when no served model
// can transcribe.
import { useEffect, useRef, useState } from 'preact/hooks';
import { accepts, apiUrl, errorOf, type ModelsState } from '../api.js';
import { encodeWav, toMono16k } from '../wav.js';
import { DropZone, ModelPicker } from './common.js';

interface Clip {
  blob: Blob;
  name: string;
  url: string;
}

export function SpeechPage({ state }: { state: ModelsState }) {
  const audioModels = state.models.filter((m) => accepts(m, 'audio'));
  // with no speech model the request still goes to the server, which says why it cannot answer
  const choices = audioModels.length ? audioModels : state.models;
  const [picked, setPicked] = useState('');
  const model = choices.some((m) => m.id === picked) ? picked : (choices[0]?.id ?? '');
  const [clip, setClip] = useState<Clip | null>(null);
  const [recording, setRecording] = useState(false);
  const [busy, setBusy] = useState(false);
  const [transcript, setTranscript] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const recorder = useRef<MediaRecorder | null>(null);

  useEffect(() => () => recorder.current?.stream.getTracks().forEach((t) => t.stop()), []);
  useEffect(() => () => void (clip && URL.revokeObjectURL(clip.url)), [clip]);

  const takeClip = (blob: Blob, name: string) => {
    setTranscript(null);
    setError(null);
    setClip({ blob, name, url: URL.createObjectURL(blob) });
  };

  async function record() {
    setError(null);
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
      return setError('This browser cannot record here (recording needs a secure origin: https or localhost). Upload a WAV file instead.');
    }
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      return setError(`No microphone: ${(err as Error).message}`);
    }
    const rec = new MediaRecorder(stream);
    const chunks: Blob[] = [];
    rec.ondataavailable = (e) => chunks.push(e.data);
    rec.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      setRecording(false);
      try {
        const samples = await toMono16k(await new Blob(chunks, { type: rec.mimeType }).arrayBuffer());
        takeClip(encodeWav(samples), 'recording.wav');
      } catch (err) {
        setError(`Cannot decode the recording: ${(err as Error).message}`);
      }
    };
    recorder.current = rec;
    rec.start();
    setRecording(true);
  }

  async function transcribe() {
    if (!clip) return;
    setBusy(true);
    setError(null);
    setTranscript(null);
    const form = new FormData();
    form.append('model', model);
    form.append('response_format', 'json');
    form.append('file', clip.blob, clip.name);
    try {
      const res = await fetch(apiUrl('/v1/audio/transcriptions'), { method: 'POST', body: form });
      if (!res.ok) throw await errorOf(res);
      const body = (await res.json()) as { text?: string };
      setTranscript(body.text ?? '');
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="page speech">
      <h1>Speech</h1>
      {!state.loading && audioModels.length === 0 && (
        <p class="notice" role="status" data-testid="no-model">
          No served model accepts audio, so the server cannot transcribe yet: that needs a speech-to-text model such as Whisper (its card lists <code>audio</code> as
          an input). You can still send a clip to see the server's answer.
        </p>
      )}
      <div class="controls">
        <ModelPicker models={choices} value={model} onChange={setPicked} label="Model" />
        {recording ? (
          <button type="button" class="stop" onClick={() => recorder.current?.stop()}>
            Stop recording
          </button>
        ) : (
          <button type="button" class="secondary" onClick={record}>
            Record
          </button>
        )}
      </div>
      <DropZone accept="audio/wav,audio/x-wav,audio/wave,.wav,audio/*" onFile={(f) => takeClip(f, f.name)}>
        {clip ? <p>{clip.name} · {(clip.blob.size / 1024).toFixed(1)} KiB</p> : <p>Drop a WAV file here, or click to pick one.</p>}
      </DropZone>
      {clip && <audio controls src={clip.url} />}
      <div class="controls">
        <button type="button" disabled={!clip || busy || recording || !model} onClick={transcribe}>
          {busy ? 'Transcribing…' : 'Transcribe'}
        </button>
      </div>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {transcript !== null && (
        <p class="result" data-testid="transcript">
          {transcript || <i>(no speech recognised)</i>}
        </p>
      )}
    </section>
  );
}
