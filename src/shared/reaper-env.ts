// What the worker reaper (providers/process/reaper.ts) tells the agent it starts, through the
// agent's environment. The agent's job containment (agent/job-containment.ts) reads the same
// names, so they live here, once.

/** The reaper's pid; the agent trusts it only while it is still the agent's parent. */
export const REAPER_PID_VARIABLE = 'HODEI_REAPER_PID';

/** '1' when prctl(PR_SET_CHILD_SUBREAPER) succeeded, otherwise '0' (orphans then go to init). */
export const REAPER_SUBREAPER_VARIABLE = 'HODEI_REAPER_SUBREAPER';

/** The worker id the provider gives every worker; how a previous server's worker is recognised. */
export const WORKER_ID_VARIABLE = 'HODEI_WORKER_ID';
