-- Worker registration that gives nothing away (issue 9, item 4): every refused registration of a
-- known worker is counted on its row, and the one past HODEI_WORKER_REGISTER_ATTEMPTS terminates
-- it, so its one-time password cannot be guessed at leisure.
ALTER TABLE workers ADD COLUMN registration_failures integer NOT NULL DEFAULT 0;
