-- Which server process holds a worker's stream (a random id per server start). A worker whose
-- server went away (a crash: its stream broke and the crash-only agent exited) is lost through no
-- fault of its job, and the job's next attempt is not charged to max_attempts: 50 server kills
-- during 500 jobs used to fail 18 jobs after 3 such losses each (the chaos suite).
ALTER TABLE workers ADD COLUMN server_instance text;
