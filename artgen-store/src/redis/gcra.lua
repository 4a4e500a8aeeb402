-- GCRA (generic cell rate algorithm) for one key, atomically on the Redis server, so any number
-- of ArtGen replicas share one limit per key.
--
-- KEYS[1]  the key's theoretical arrival time (TAT), microseconds
-- ARGV[1]  emission interval T: microseconds per unit (60 s / units per minute)
-- ARGV[2]  tolerance: T x burst, microseconds (the bucket's capacity)
-- ARGV[3]  cost in units (>= 1, <= burst; the caller checks)
-- ARGV[4]  now in microseconds, or -1 to use the server's clock (TIME), which all replicas share
--
-- Returns {admitted (0|1), retry_after_us, remaining_units, reset_us}: reset is the time until
-- the key's allowance is whole again.
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval * cost
if new_tat - now > tolerance then
  local retry_after = new_tat - tolerance - now
  local remaining = math.floor((tolerance - (tat - now)) / interval)
  return {0, retry_after, remaining, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
local remaining = math.floor((tolerance - (new_tat - now)) / interval)
return {1, 0, remaining, new_tat - now}
