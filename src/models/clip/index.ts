// CLIP: config, the two towers, and the dual-encoder model (see model.ts).

export { parseCLIPConfig, parseCLIPTextConfig, parseCLIPVisionConfig, type CLIPConfig, type CLIPTextConfig, type CLIPVisionConfig, type CLIPTowerConfig } from './config.js';
export { CLIPEncoder, type CLIPTowerOutput } from './encoder.js';
export { CLIPTextModel } from './text.js';
export { CLIPVisionModel } from './vision.js';
export { CLIPModel, CLIP_CARD, l2Normalize, type CLIPInputs, type CLIPOutput } from './model.js';
export { CLIPForImageClassification } from './classification.js';
