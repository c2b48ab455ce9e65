// Audio inputs beyond the WAV reader (src/io/audio.ts): resampling to 16 kHz mono and Whisper's
// log-mel front end, with the FFT they run on.
export { FFT, RealFFT } from './fft.js';
export { MAX_RESAMPLE_OUTPUT, RESAMPLER_DESIGN, WHISPER_SAMPLE_RATE, mixToMono, resample, toMono16k } from './resample.js';
export { hannWindow, hzToMelSlaney, logMelSpectrogram, melFilterbank, melToHzSlaney, type LogMelOptions, type MelFilterOptions } from './mel.js';
