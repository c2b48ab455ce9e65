export * from './prompts.js';
export { TextGenerationPipeline, type TextGenerationOptions } from './text-generation.js';
export { codeCompletionRequest, completeCode, fimPromptIds } from './code-completion.js';
export {
  answerExtractive,
  classifyText,
  embedTexts,
  encodeForEncoder,
  fillMask,
  padBatch,
  type EncoderBatch,
  type ExtractiveAnswer,
  type FeatureOptions,
  type MaskPrediction,
} from './encoder.js';
export {
  clipImageEmbeddings,
  clipTextEmbeddings,
  imageTextSimilarity,
  loadClipPipeline,
  rankImages,
  rankTexts,
  tokenizeForClip,
  zeroShotClassify,
  zeroShotClassifyMany,
  type ClipPipelineParts,
  type ClipTextBatch,
  type ImageRanking,
  type ImageTextSimilarity,
  type TextRanking,
  type ZeroShotResult,
} from './zero-shot-image.js';
export { DEFAULT_TEMPLATE as DEFAULT_VISUAL_CHAT_TEMPLATE, VisualChatPipeline, type VisualChatMessage, type VisualChatOptions, type VisualChatPart, type VisualPrompt } from './visual-chat.js';
export { caption, captionIds, captionImages, captionStopTokens, loadCaptionPipeline, type Caption, type CaptionOptions, type CaptionPipelineParts } from './caption.js';
