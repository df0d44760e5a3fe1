/**
 * The Lua scripts of {@linkcode RedisStreamsBackplane}, run with `EVAL` so
 * that each step is atomic, and the keys they use. Internal.
 *
 * Per room (`<c>` is the hub's channel): `<c>:s:<room>` the stream,
 * `<c>:m:<room>` its meta hash (`e` epoch, `s` the last sequence number,
 * `t` the time part of the last id), `<c>:p:<room>` presence (member id to
 * member JSON). Per server: `<c>:servers` (a sorted set: server id to the
 * time it is considered dead), `<c>:server:<id>` (its presence fields,
 * `JSON.stringify([room, id])`). Per publisher: `<c>:pub:<id>` (sequence
 * number to the position it was written at, while unacknowledged).
 * Presence changes are published on `<c>:presence`.
 *
 * @module
 */

/** The keys of one room. */
export function roomKeys(channel: string, room: string): [string, string] {
  return [`${channel}:m:${room}`, `${channel}:s:${room}`];
}

/**
 * Reads the meta hash, making a new epoch (and dropping a stream left
 * without one) when it is missing. Defines `epoch`, `seq`, `last`.
 * KEYS[1] meta, KEYS[2] stream; ARGV[1] a new epoch, ARGV[2] its TTL.
 */
const META = `
local m = redis.call('HMGET', KEYS[1], 'e', 's', 't')
local epoch, seq, last = m[1], tonumber(m[2] or '0'), tonumber(m[3] or '0')
if not epoch then
  epoch, seq, last = ARGV[1], 0, 0
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0, 't', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function top()
  if seq == 0 then return '0-0' end
  return string.format('%d-%d', last, seq)
end
`;

/**
 * Appends a message once per publisher sequence number.
 * KEYS: meta, stream, publisher. ARGV: epoch, meta TTL, history,
 * historyTtl, publisher seq, data, binary ("1" or ""), except ("" for
 * none), then the publisher's acknowledged seqs to forget.
 * Returns "<epoch> <offset>".
 */
export const APPEND = `
local done = redis.call('HGET', KEYS[3], ARGV[5])
if done then return done end
${META}
seq = seq + 1
if now < last then now = last end
local id = string.format('%d-%d', now, seq)
local fields = {'e', epoch, 'd', ARGV[6]}
if ARGV[7] ~= '' then fields[#fields + 1] = 'b'; fields[#fields + 1] = '1' end
if ARGV[8] ~= '' then fields[#fields + 1] = 'x'; fields[#fields + 1] = ARGV[8] end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id, unpack(fields))
redis.call('XTRIM', KEYS[2], 'MINID', '~',
  string.format('%d-0', now - tonumber(ARGV[4])))
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], 's', seq, 't', now)
local position = epoch .. ' ' .. id
redis.call('HSET', KEYS[3], ARGV[5], position)
for i = 9, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return position
`;

/**
 * Where following a room starts: the last entry written before a time (the
 * join's, less an allowance for clock skew), so that whatever is written
 * after it is read, however long this script takes to run. KEYS: meta,
 * stream. ARGV: epoch, meta TTL, the time in ms. Returns {epoch, offset}.
 */
export const TOP = `${META}
if seq == 0 then return {epoch, '0-0'} end
local before = redis.call('XREVRANGE', KEYS[2],
  string.format('%d-0', tonumber(ARGV[3])), '-', 'COUNT', 1)[1]
if before then return {epoch, before[1]} end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
if first then
  local ms, n = string.match(first[1], '^(%d+)-(%d+)$')
  return {epoch, ms .. '-' .. (tonumber(n) - 1)}
end
return {epoch, top()}
`;

/**
 * Reads a room's stream. KEYS: meta, stream. ARGV: epoch, meta TTL,
 * historyTtl, limit, since's epoch ("" for none), since's offset.
 * Returns {epoch, top, recovered (1 or 0), entries}.
 */
export const READ = `${META}
redis.call('XTRIM', KEYS[2], 'MINID',
  string.format('%d-0', now - tonumber(ARGV[3])))
if ARGV[5] == '' then
  return {epoch, top(), 1,
    redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[4])}
end
local after = tonumber(string.match(ARGV[6], '-(%d+)$'))
local recovered = ARGV[5] == epoch and after <= seq
if recovered then
  local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
  if first then
    recovered = tonumber(string.match(first[1], '-(%d+)$')) <= after + 1
  else
    recovered = after == seq
  end
end
if not recovered then return {epoch, top(), 0, {}} end
return {epoch, top(), 1,
  redis.call('XRANGE', KEYS[2], '(' .. ARGV[6], '+', 'COUNT', ARGV[4])}
`;

/**
 * Publishes a presence change. `room` is a Lua string, `member` the
 * member's JSON.
 */
const TELL = `
local function tell(prefix, kind, room, member)
  redis.call('PUBLISH', prefix .. ':presence', '{"type":"' .. kind ..
    '","room":' .. cjson.encode(room) .. ',"member":' .. member .. '}')
end
local function drop(prefix, sid, field)
  local pair = cjson.decode(field)
  local key = prefix .. ':p:' .. pair[1]
  local member = redis.call('HGET', key, pair[2])
  if member and cjson.decode(member).serverId == sid then
    redis.call('HDEL', key, pair[2])
    tell(prefix, 'leave', pair[1], member)
  end
end
`;

/**
 * A member enters a room. KEYS: presence, server. ARGV: channel, room, id,
 * member JSON, field.
 */
export const ENTER = `${TELL}
local old = redis.call('HGET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[5], '1')
if old ~= ARGV[4] then tell(ARGV[1], 'join', ARGV[2], ARGV[4]) end
`;

/** A member leaves a room. KEYS: server. ARGV: channel, server id, field. */
export const EXIT = `${TELL}
redis.call('HDEL', KEYS[1], ARGV[3])
drop(ARGV[1], ARGV[2], ARGV[3])
`;

/**
 * Renews servers and removes the members of dead ones. KEYS: servers.
 * ARGV: channel, milliseconds until a server is dead, then the server ids
 * to renew. Returns the ids that were not registered (their presence must
 * be written again).
 */
export const HEARTBEAT = `${TELL}
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local fresh = {}
for i = 3, #ARGV do
  if redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i]) == 1 then
    fresh[#fresh + 1] = ARGV[i]
  end
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
for _, sid in ipairs(dead) do
  redis.call('ZREM', KEYS[1], sid)
  local key = ARGV[1] .. ':server:' .. sid
  for _, field in ipairs(redis.call('HKEYS', key)) do drop(ARGV[1], sid, field) end
  redis.call('DEL', key)
end
return fresh
`;

/**
 * Writes a server's presence as it is: KEYS: server. ARGV: channel, server
 * id, then (field, room, id, member JSON) for every member. Members missing
 * are added (a "join"), members gone are removed (a "leave").
 */
export const RECONCILE = `${TELL}
local want = {}
for i = 3, #ARGV, 4 do want[ARGV[i]] = true end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not want[field] then
    redis.call('HDEL', KEYS[1], field)
    drop(ARGV[1], ARGV[2], field)
  end
end
for i = 3, #ARGV, 4 do
  local key = ARGV[1] .. ':p:' .. ARGV[i + 1]
  local old = redis.call('HGET', key, ARGV[i + 2])
  redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
  redis.call('HSET', KEYS[1], ARGV[i], '1')
  if old ~= ARGV[i + 3] then tell(ARGV[1], 'join', ARGV[i + 1], ARGV[i + 3]) end
end
`;

/**
 * Removes a server and all its members. KEYS: servers, server. ARGV:
 * channel, server id.
 */
export const UNREGISTER = `${TELL}
for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
  drop(ARGV[1], ARGV[2], field)
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[2])
`;

/**
 * The members of a room whose server is alive. KEYS: presence, servers.
 * Returns their JSON.
 */
export const PRESENCE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local alive = {}
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 2, #all, 2 do
  local sid = cjson.decode(all[i]).serverId
  if alive[sid] == nil then
    local deadline = redis.call('ZSCORE', KEYS[2], sid)
    alive[sid] = deadline ~= false and tonumber(deadline) >= now
  end
  if alive[sid] then out[#out + 1] = all[i] end
end
return out
`;
