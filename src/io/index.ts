export { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, type SafetensorsContents } from './safetensors.js';
export { ConfigReader, readJsonObject, parseJsonObject, describeJson, type JsonObject } from './config.js';
export {
  readCheckpoint,
  readConfigJson,
  readGenerationConfig,
  parseGenerationConfig,
  writeHFDirectory,
  CONFIG_FILE,
  WEIGHTS_FILE,
  WEIGHTS_INDEX_FILE,
  GENERATION_CONFIG_FILE,
  type Checkpoint,
  type GenerationConfig,
} from './hf.js';
export {
  parseGguf,
  parseGgufHeader,
  readGguf,
  readGgufHeader,
  serializeGguf,
  writeGguf,
  type GgufFile,
  type GgufHeader,
  type GgufTensorInfo,
  type GgufTensorType,
  type GgufWriteInput,
  type GgufArray,
  type GgufBigType,
  type GgufInput,
  type GgufItemType,
  type GgufNumberType,
  type GgufNumericArray,
  type GgufPlainArray,
  type GgufScalarType,
  type GgufValue,
} from './gguf.js';
export { normalizeGgufValue } from './gguf-infer.js';
export { MappedFile, mapFile, mmapAvailable, MAX_RANGE_BYTES, type MapOptions } from './mmap.js';
