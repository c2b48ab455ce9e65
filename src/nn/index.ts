export { Module } from './module.js';
export { Linear, Embedding, LayerNorm, RMSNorm, Dropout, type InitOptions } from './layers.js';
export {
  LoRALinear,
  applyLora,
  planLora,
  matchesTarget,
  loraModules,
  loraParameters,
  trainableParameters,
  mergeLora,
  unmergeLora,
  unloadLora,
  loraScaling,
  type LoRAOptions,
  type LoRAConfig,
  type LoRAPlan,
} from './lora.js';
