-- Rate-limit counters of rate-limiter-flexible's PostgreSQL store (server/http/rate-limit.ts):
-- one row per limiter key prefix + key (failed logins, public push subscriptions per address), so
-- every node counts against the same budget. `expire` is epoch milliseconds; expired rows are
-- reused by the next hit and swept by the library. Created here, not by the library at run time,
-- so concurrent node starts do not race on CREATE TABLE.
CREATE TABLE IF NOT EXISTS rate_limits (
  key varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);
