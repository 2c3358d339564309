import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from './size.js';

describe('parseSize', () => {
  it('reads bytes and binary and decimal units', () => {
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseSize('64 mib')).toBe(64 * 1024 * 1024);
    expect(parseSize('10MB')).toBe(10_000_000);
    expect(parseSize('1.5k')).toBe(1536);
  });

  it('refuses what is not a size', () => {
    expect(parseSize('')).toBeUndefined();
    expect(parseSize('-1')).toBeUndefined();
    expect(parseSize('12 parsecs')).toBeUndefined();
  });
});

describe('formatSize', () => {
  it('says sizes the way people read them', () => {
    expect(formatSize(64 * 1024 * 1024)).toBe('64 MiB');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(100)).toBe('100 bytes');
  });
});
