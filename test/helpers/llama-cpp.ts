// node-llama-cpp (the pinned devDependency) for the GGUF parity tests: loaded once per test file
// on the CPU with prebuilt binaries only; when it cannot load, the reason is returned so the
// tests that need it skip with it.

export type Llama = Awaited<ReturnType<(typeof import('node-llama-cpp'))['getLlama']>>;

export async function loadLlamaCpp(): Promise<{ llama: Llama | null; skip: string | false }> {
  try {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    return { llama: await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error }), skip: false };
  } catch (err) {
    return { llama: null, skip: `node-llama-cpp unavailable: ${(err as Error).message.split('\n')[0]}` };
  }
}
