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
