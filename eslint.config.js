import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'bench/results/', 'test-results/', 'public/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
        setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', URLSearchParams: 'readonly',
        fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly',
        performance: 'readonly', structuredClone: 'readonly', Headers: 'readonly', Response: 'readonly', Request: 'readonly', FormData: 'readonly', Blob: 'readonly',
      },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Browser scripts served from public/.
    files: ['public/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', DOMParser: 'readonly', MutationObserver: 'readonly', EventSource: 'readonly', XMLHttpRequest: 'readonly', location: 'readonly', navigator: 'readonly', FormData: 'readonly', console: 'readonly' } },
  },
  {
    // CommonJS TypeScript (the launcher): with verbatimModuleSyntax, `import x = require()` is how it imports.
    files: ['**/*.cts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Benchmarks and CLI entry points print their figures.
    files: ['bench/**'],
    rules: { 'no-console': 'off' },
  },
);
