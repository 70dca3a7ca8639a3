-- What bench/loopback.lua and bench/compare.lua share: what they read of
-- a process from /proc, a shell quote, list options from the environment
-- and the "result k=v ..." line a measuring process prints.
--
--   local proc = dofile(script_dir .. "/proc.lua")
--   proc.status_kb(pid, "VmHWM"), proc.cpu_seconds(pid), proc.shell_quote(s)
--   proc.env_list("BENCH_WINDOWS", "1,10,100"), proc.result(output)
-- pid may be "self".

local M = {}

--- A "<key>: N kB" line of /proc/<pid>/status, in kB; nil when not there.
function M.status_kb(pid, key)
  local f = io.open("/proc/" .. tostring(pid) .. "/status", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match(key .. ":%s*(%d+) kB"))
end

--- CPU seconds a process used so far: schedstat's on-CPU nanoseconds, else
-- utime + stime from stat (clock ticks); 0 for a process that is gone.
function M.cpu_seconds(pid)
  local f = io.open("/proc/" .. tostring(pid) .. "/schedstat", "r")
  if f then
    local ns = tonumber((f:read("l") or ""):match("^(%d+)"))
    f:close()
    if ns then return ns / 1e9 end
  end
  f = io.open("/proc/" .. tostring(pid) .. "/stat", "r")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  local rest = s:match("%) (.*)$")
  local fields = {}
  for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
  -- utime and stime are fields 14 and 15 of the line, 12 and 13 after ")".
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

--- s quoted for sh.
function M.shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The comma- or space-separated words of $env, else of default.
function M.env_list(env, default)
  local out = {}
  for w in (os.getenv(env) or default):gmatch("[^,%s]+") do out[#out + 1] = w end
  return out
end

--- The "result k=v ..." line of a run's output as a table (numbers as
-- numbers), or nil when the run printed none.
function M.result(out)
  local line = out:match("result ([^\n]*)")
  if not line then return nil end
  local r = {}
  for k, v in line:gmatch("(%S+)=(%S+)") do r[k] = tonumber(v) or v end
  return r
end

return M
