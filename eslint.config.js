// Lint with type information; warnings fail CI (--max-warnings 0).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'out/',
      'coverage/',
      '.cache/',
      'scratch/',
      'runs/',
      'test-output/',
      '.gpubundle/',
      'src/kernels/wgsl.generated.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  // Size budgets, as tinygrad keeps a line budget in CI: a file a reader can hold in mind, and
  // functions that do one thing. Test files keep the file budget; their describe() callbacks group
  // cases rather than compute, so the per-function budget applies to the code under test only.
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    rules: { 'max-lines': ['error', { max: 500 }] },
  },
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    ignores: ['test/**'],
    rules: { 'max-lines-per-function': ['error', { max: 120 }] },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
