// ESLint for the Web SDK (src/hubbub/web/sdk) and the Node code that drives it in tests; run by
// tests/web/test_js_lint.py (`npx eslint --max-warnings 0`), next to tsc checking the JSDoc types.
import js from '@eslint/js';
import globals from 'globals';

export default [
  {
    files: ['src/hubbub/web/sdk/**/*.js'],
    ...js.configs.recommended,
    languageOptions: {ecmaVersion: 2022, sourceType: 'module', globals: {...globals.browser}},
  },
  {
    files: ['tests/**/*.mjs', 'eslint.config.mjs'],
    ...js.configs.recommended,
    languageOptions: {ecmaVersion: 2022, sourceType: 'module', globals: {...globals.node}},
  },
  {
    files: ['src/hubbub/web/sdk/**/*.js', 'tests/**/*.mjs', 'eslint.config.mjs'],
    rules: {
      'no-unused-vars': ['error', {argsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_'}],
      'eqeqeq': ['error', 'always', {null: 'ignore'}],
      'no-var': 'error',
      'prefer-const': 'error',
    },
  },
  {ignores: ['node_modules/', '.venv/', 'src/hubbub/web/guide/', 'src/hubbub/web/demo/', 'src/hubbub/web/console/', 'build/', 'docs/', 'deploy/']},
];
