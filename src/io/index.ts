export { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, type SafetensorsContents } from './safetensors.js';
