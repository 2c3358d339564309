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
  retry: { retries: 0, backoffMs: 0, maxBackoffMs: 0 },
  secrets: {},
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

  it('checks secret names like env names, refuses a name in both, and never quotes a value', () => {
    expect(fieldOf({ secrets: { TOKEN: 'hunter2' } })).toBe('valid');
    expect(fieldOf({ secrets: { '1TOKEN': 'hunter2' } })).toBe('spec.secrets');
    expect(fieldOf({ secrets: { 'A-B': 'x' } })).toBe('spec.secrets');
    expect(fieldOf({ secrets: { TOKEN: 'a\0b' } })).toBe('spec.secrets.TOKEN');
    expect(() =>
      validateJobSpec({ ...base, env: { TOKEN: 'plain' }, secrets: { TOKEN: 'hunter2' } }, []),
    ).toThrow(/^spec\.secrets\.TOKEN: TOKEN is in spec\.env too/);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`S${i}`, 'v']));
    expect(fieldOf({ secrets: many })).toBe('spec.secrets');
    const value = `hunter2-${'x'.repeat(70_000)}`;
    let message = '';
    try {
      validateJobSpec({ ...base, secrets: { BIG: value } }, []);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^spec\.secrets: is 70\d{3} bytes; at most 65536 allowed$/);
    expect(validateJobSpec({ ...base, secrets: { TOKEN: 'v' } }, []).secrets).toEqual({
      TOKEN: 'v',
    });
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

  it('fills the retry defaults: no retries, 1 s doubling to 5 min', () => {
    expect(validateJobSpec(base, ['process']).retry).toEqual({
      retries: 0,
      backoffMs: 1000,
      maxBackoffMs: 300_000,
    });
    const long = { retries: 2, backoffMs: 600_000, maxBackoffMs: 0 };
    expect(validateJobSpec({ ...base, retry: long }, ['process']).retry.maxBackoffMs).toBe(600_000);
  });

  it('names the retry field that is out of range', () => {
    const retry = (r: Partial<RawJobSpec['retry']>) => ({ retry: { ...base.retry, ...r } });
    expect(fieldOf(retry({ retries: -1 }))).toBe('spec.retry.retries');
    expect(fieldOf(retry({ retries: 101 }))).toBe('spec.retry.retries');
    expect(fieldOf(retry({ retries: 1.5 }))).toBe('spec.retry.retries');
    expect(fieldOf(retry({ backoffMs: -1 }))).toBe('spec.retry.backoff');
    expect(fieldOf(retry({ backoffMs: 2 * 86_400_000 }))).toBe('spec.retry.backoff');
    expect(fieldOf(retry({ backoffMs: 5000, maxBackoffMs: 1000 }))).toBe('spec.retry.max_backoff');
    expect(fieldOf(retry({ retries: 100, backoffMs: 1, maxBackoffMs: 86_400_000 }))).toBe('valid');
  });
});
