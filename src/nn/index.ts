export { Module } from './module.js';
export { Linear, Embedding, LayerNorm, RMSNorm, Dropout, type InitOptions } from './layers.js';
