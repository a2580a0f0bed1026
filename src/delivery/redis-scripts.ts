// Lua scripts of the Redis event log. Each runs atomically in Redis, so an append gets
// consecutive eids for all its records or changes nothing, and an acknowledgement trims
// and re-counts the bytes in one step.
//
// Keys of one session (hash tag {s<sid>} keeps them in one slot for Redis Cluster):
//   meta: hash  h = head eid, a = acknowledged eid, b = retained bytes, c = closed (0/1)
//   log:  stream of retained events, entry id "<eid>-0", fields x = xml, n = its length
//   ctl:  stream that gets an entry when the log is closed or removed (wakes blocking readers)
// Lengths are UTF-16 code units, as the memory log counts them: the caller passes the
// length of head+tail, the script adds the eid's digits.

/** KEYS meta log; ARGV maxEvents maxBytes ttlMs channel ovHead ovTail ovLen n (head tail len)*n */
export const APPEND = `
local m = redis.call('HMGET', KEYS[1], 'h', 'a', 'b', 'c')
if not m[1] or m[4] == '1' then return -1 end
local head, acked, bytes = tonumber(m[1]), tonumber(m[2]), tonumber(m[3])
local n = tonumber(ARGV[8])
if n == 0 then return head end
local ttl = ARGV[3]
local add = 0
for i = 0, n - 1 do
  add = add + tonumber(ARGV[11 + 3 * i]) + string.len(tostring(head + 1 + i))
end
if (head - acked) + n > tonumber(ARGV[1]) or bytes + add > tonumber(ARGV[2]) then
  local eid = head + 1
  local len = tonumber(ARGV[7]) + string.len(tostring(eid))
  redis.call('XADD', KEYS[2], eid .. '-0', 'x', ARGV[5] .. eid .. ARGV[6], 'n', len)
  redis.call('HSET', KEYS[1], 'h', eid, 'b', bytes + len, 'c', 1)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PUBLISH', ARGV[4], 'c')
  return -2
end
for i = 0, n - 1 do
  local eid = head + 1 + i
  redis.call('XADD', KEYS[2], eid .. '-0', 'x', ARGV[9 + 3 * i] .. eid .. ARGV[10 + 3 * i],
    'n', tonumber(ARGV[11 + 3 * i]) + string.len(tostring(eid)))
end
redis.call('HSET', KEYS[1], 'h', head + n, 'b', bytes + add)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', ARGV[4], head + n)
return head + n
`;

/**
 * KEYS meta log; ARGV cursor max ttlMs ack(1|0).
 * Returns {0} missing, {1, acked, head} stale, {2, head, closed, entries}.
 */
export const READ = `
local m = redis.call('HMGET', KEYS[1], 'h', 'a', 'b', 'c')
if not m[1] then return {0} end
local head, acked, bytes = tonumber(m[1]), tonumber(m[2]), tonumber(m[3])
local cur = tonumber(ARGV[1])
if cur < acked then return {1, acked, head} end
if ARGV[4] == '1' then
  local upTo = math.min(cur, head)
  if upTo > acked then
    local gone = redis.call('XRANGE', KEYS[2], (acked + 1) .. '-0', upTo .. '-0')
    for _, e in ipairs(gone) do bytes = bytes - tonumber(e[2][4]) end
    redis.call('XTRIM', KEYS[2], 'MINID', (upTo + 1) .. '-0')
    redis.call('HSET', KEYS[1], 'a', upTo, 'b', bytes)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
-- COUNT 0 answers nil rather than an empty array: a read of 0 events only acknowledges.
local evs = {}
if tonumber(ARGV[2]) > 0 then
  evs = redis.call('XRANGE', KEYS[2], (cur + 1) .. '-0', '+', 'COUNT', tonumber(ARGV[2]))
end
return {2, head, tonumber(m[4]), evs}
`;

/** KEYS meta log ctl; ARGV ttlMs channel hasTerminal head tail len */
export const CLOSE = `
local m = redis.call('HMGET', KEYS[1], 'h', 'b', 'c')
if not m[1] or m[3] == '1' then return 0 end
local head, bytes = tonumber(m[1]), tonumber(m[2])
if ARGV[3] == '1' then
  head = head + 1
  local len = tonumber(ARGV[6]) + string.len(tostring(head))
  redis.call('XADD', KEYS[2], head .. '-0', 'x', ARGV[4] .. head .. ARGV[5], 'n', len)
  bytes = bytes + len
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
redis.call('HSET', KEYS[1], 'h', head, 'b', bytes, 'c', 1)
redis.call('XADD', KEYS[3], '*', 'c', 1)
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'c')
return 1
`;

/** KEYS meta log ctl; ARGV ttlMs channel */
export const REMOVE = `
local existed = redis.call('DEL', KEYS[1], KEYS[2])
redis.call('XADD', KEYS[3], '*', 'r', 1)
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'r')
return existed
`;

/**
 * KEYS meta log ctl; ARGV ttlMs. A session id met again (a gateway restarted on the same
 * Redis database counts sessions from 1 again) starts from an empty log, never from a
 * dead session's events.
 */
export const OPEN = `
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'h', 0, 'a', 0, 'b', 0, 'c', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;
