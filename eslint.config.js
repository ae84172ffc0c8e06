// Lint rules: typescript-eslint's recommended set plus the project's conventions
// (no default exports, no stray console outside the CLI, benchmarks and the chaos harness).
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', '.cairn-dev/**', 'bench/out/**', 'src/ui/vendor/**', 'dist/**', '.dist-*/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }]
    }
  },
  {
    files: ['src/cli/**', 'bench/**', 'chaos/**', 'test/**', 'bin/**', 'scripts/**', 'src/daemon/main.ts'],
    rules: { 'no-console': 'off' }
  }
)
