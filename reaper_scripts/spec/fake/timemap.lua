--[[
The fake project's tempo and meter map: what REAPER's TimeMap functions answer, for a map of
markers without ramps. Each marker { qn =, bpm =, num =, den = } starts at a quarter note
(markers that change the meter must sit on a bar line of the meter before them).
]]

local timemap = {}
timemap.__index = timemap

function timemap.new(markers)
  assert(#markers >= 1 and markers[1].qn == 0, "timemap: the first marker must be at qn 0")
  local self = setmetatable({ markers = markers }, timemap)
  local t = 0
  for i, m in ipairs(markers) do
    m.time = t
    local next_marker = markers[i + 1]
    if next_marker then
      t = t + (next_marker.qn - m.qn) * 60 / m.bpm
    end
  end
  return self
end

local function marker_by(self, key, value)
  local found = self.markers[1]
  for _, m in ipairs(self.markers) do
    if m[key] <= value then
      found = m
    end
  end
  return found
end

function timemap:qn_to_time(qn)
  local m = marker_by(self, "qn", qn)
  return m.time + (qn - m.qn) * 60 / m.bpm
end

function timemap:time_to_qn(t)
  local m = marker_by(self, "time", t)
  return m.qn + (t - m.time) * m.bpm / 60
end

function timemap:bpm_at_qn(qn)
  return marker_by(self, "qn", qn).bpm
end

--- Measure `index` (0-based, as TimeMap_GetMeasureInfo counts): start and end in quarter
--- notes, numerator, denominator. Bar lines are computed once, in order, and kept.
function timemap:measure(index)
  self.bars = self.bars or {}
  local bars = self.bars
  while #bars <= index do
    local qn = #bars == 0 and 0 or bars[#bars].finish
    local meter = marker_by(self, "qn", qn + 1e-9)
    bars[#bars + 1] = { start = qn, finish = qn + meter.num * 4 / meter.den, num = meter.num, den = meter.den }
  end
  local m = bars[index + 1]
  return m.start, m.finish, m.num, m.den
end

--- The measure containing quarter note `qn` (0-based) and the quarter note where it starts.
function timemap:measure_at_qn(qn)
  local index = 0
  while true do
    local start, finish = self:measure(index)
    if qn < finish - 1e-9 then
      return index, start
    end
    index = index + 1
  end
end

return timemap
