// Builds the playground into web/dist, which `strata serve` serves at / (src/serve/playground.ts).
// Run from the repository root as `vite build web` (npm's prepare script does it at install).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // relative asset URLs: the same build works at / and under a proxy's sub-path
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 200,
  },
  // `vite web` for front-end work against a running `strata serve` on :8080
  server: { proxy: { '/v1': 'http://127.0.0.1:8080', '/api': 'http://127.0.0.1:8080', '/health': 'http://127.0.0.1:8080' } },
});
