export { Optimizer, type OptimizerState } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { constantSchedule, warmupCosineSchedule, LRScheduler, type Schedule } from './schedule.js';
export { clipGradNorm } from './clip.js';
