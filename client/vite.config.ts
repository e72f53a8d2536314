import path from 'node:path';
import { createHash } from 'node:crypto';
import { defineConfig, type Plugin } from 'vite';

const root = import.meta.dirname;

/**
 * Writes sw.js from client/src/field/sw-template.js with the field app's shell (field.html, its
 * JS and CSS chunks) as the precache list and a content hash as the cache version, so every
 * build that changes the shell installs a new worker and drops the old cache.
 */
function fieldServiceWorker(): Plugin {
  return {
    name: 'yingji-field-service-worker',
    apply: 'build',
    async generateBundle(_options, bundle) {
      const files = new Set<string>(['field.html', 'manifest.webmanifest', 'icon.svg']);
      const entry = Object.values(bundle).find((c) => c.type === 'chunk' && c.isEntry && c.facadeModuleId?.endsWith('field.html'));
      const visit = (name: string) => {
        const chunk = bundle[name];
        if (!chunk || files.has(name)) return;
        files.add(name);
        if (chunk.type === 'chunk') {
          chunk.imports.forEach(visit);
          chunk.dynamicImports.forEach(visit);
          chunk.viteMetadata?.importedCss.forEach((css) => files.add(css));
        }
      };
      if (entry) visit(entry.fileName);
      const list = [...files].map((f) => '/' + f);
      const version = createHash('sha256').update(list.join('\n')).digest('hex').slice(0, 12);
      const template = (await import('node:fs/promises')).readFile(path.join(root, 'src/field/sw-template.js'), 'utf8');
      const source = (await template).replace('__PRECACHE__', JSON.stringify(list)).replace('__VERSION__', version);
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}

export default defineConfig({
  root,
  base: '/',
  publicDir: path.join(root, 'public'),
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    outDir: path.resolve(root, '../dist/client'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    rollupOptions: { input: { index: path.join(root, 'index.html'), field: path.join(root, 'field.html') } },
  },
  plugins: [fieldServiceWorker()],
  server: { proxy: { '/api': 'http://localhost:3000', '/yjs': { target: 'ws://localhost:3000', ws: true }, '/socket.io': { target: 'http://localhost:3000', ws: true } } },
});
