import { describe, expect, it } from 'vitest';
import { access, scopesFor } from './scopes.js';

describe('access', () => {
  it('read may read every job and may not queue or cancel', () => {
    expect(access(['read'], 'JobService/GetJob')).toBe('all');
    expect(access(['read'], 'JobService/WatchJob')).toBe('all');
    expect(access(['read'], 'JobService/QueueJob')).toBe('none');
    expect(access(['read'], 'JobService/QueueJobs')).toBe('none');
    expect(access(['read'], 'JobService/CancelJob')).toBe('none');
  });

  it('submit may queue, and read and cancel only its own jobs', () => {
    expect(access(['submit'], 'JobService/QueueJob')).toBe('all');
    expect(access(['submit'], 'JobService/QueueJobs')).toBe('all');
    expect(access(['submit'], 'JobService/CancelJob')).toBe('own');
    expect(access(['submit'], 'JobService/ListJobs')).toBe('own');
    expect(access(['submit'], 'JobService/GetJobLogs')).toBe('own');
  });

  it('cancel may cancel any job; scopes add up', () => {
    expect(access(['cancel'], 'JobService/CancelJob')).toBe('all');
    expect(access(['cancel'], 'JobService/GetJob')).toBe('none');
    expect(access(['submit', 'read'], 'JobService/GetJob')).toBe('all');
    expect(access(['submit', 'cancel'], 'JobService/CancelJob')).toBe('all');
  });

  it('only admin reaches OpsService and any method not in the table', () => {
    for (const scopes of [
      ['submit'],
      ['read'],
      ['cancel'],
      ['submit', 'read', 'cancel'],
    ] as const) {
      expect(access(scopes, 'OpsService/ListWorkers')).toBe('none');
      expect(access(scopes, 'JobService/SomethingNew')).toBe('none');
    }
    expect(access(['admin'], 'OpsService/ListWorkers')).toBe('all');
    expect(access(['admin'], 'JobService/QueueJob')).toBe('all');
    expect(access([], 'JobService/GetJob')).toBe('none');
  });

  it('names the scopes that would do', () => {
    expect(scopesFor('JobService/CancelJob')).toEqual(['cancel', 'submit', 'admin']);
    expect(scopesFor('OpsService/ListWorkers')).toEqual(['admin']);
  });
});
