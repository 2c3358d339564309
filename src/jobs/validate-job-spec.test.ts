import { describe, expect, it } from 'vitest';
import { validateJobSpec, validateKey, type RawJobSpec } from './validate-job-spec.js';
import { InvalidArgumentError } from '../shared/errors.js';

const base: RawJobSpec = {
  name: '',
  command: 'echo',
  args: ['hello'],
  env: {},
  workingDir: '',
  timeoutMs: 0,
  maxAttempts: 0,
  labels: {},
  provider: '',
};

function fieldOf(spec: Partial<RawJobSpec>): string {
  try {
    validateJobSpec({ ...base, ...spec }, ['process']);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error.field;
    throw error;
  }
  return 'valid';
}

describe('validateJobSpec', () => {
  it('accepts a plain command and fills defaults', () => {
    const spec = validateJobSpec(base, ['process']);
    expect(spec.command).toBe('echo');
    expect(spec.maxAttempts).toBe(3);
  });

  it('names the field that is wrong', () => {
    expect(fieldOf({ command: '' })).toBe('spec.command');
    expect(fieldOf({ command: '   ' })).toBe('spec.command');
    expect(fieldOf({ timeoutMs: -1 })).toBe('spec.timeout');
    expect(fieldOf({ maxAttempts: -2 })).toBe('spec.max_attempts');
    expect(fieldOf({ env: { 'BAD NAME': 'x' } })).toBe('spec.env');
    expect(fieldOf({ env: { BIG: 'x'.repeat(70_000) } })).toBe('spec.env');
    expect(fieldOf({ provider: 'mainframe' })).toBe('spec.provider');
    expect(fieldOf({ args: ['a\0b'] })).toBe('spec.args[0]');
    expect(fieldOf({ labels: { '': 'x' } })).toBe('spec.labels');
  });

  it('says how big an oversized env is', () => {
    expect(() => validateJobSpec({ ...base, env: { BIG: 'x'.repeat(70_000) } }, [])).toThrow(
      /70\d{3} bytes; at most 65536/,
    );
  });

  it('accepts a known provider', () => {
    expect(fieldOf({ provider: 'process' })).toBe('valid');
  });
});

describe('validateKey', () => {
  it('rejects spaces and overly long keys', () => {
    expect(() => validateKey('idempotency_key', 'a b')).toThrow(/idempotency_key/);
    expect(() => validateKey('correlation_id', 'x'.repeat(201))).toThrow(/correlation_id/);
    expect(validateKey('idempotency_key', 'deploy-42')).toBe('deploy-42');
  });
});
