--[[
Bar geometry: which bars a time selection covers, the window of bars sent to the server, and
the meter changes inside it. Pure: the REAPER layer reads the project's measures once (with
TimeMap_GetMeasureInfo) into a list and everything here works on that list.

A measure is { start = qn, finish = qn, num = n, den = d }, positions in project quarter notes.
measures[b] is the bar REAPER shows as b (its API counts measures from 0). Quarter notes do not
depend on tempo, so a tempo change never moves a bar line here; only a meter change does.
]]

local bars = {}

-- Half a 1/12-quarter grid step: closer than this to a bar line counts as on it, so selections
-- made with snap on (or by a float round trip) do not pick up a sliver of the next bar.
bars.EPSILON = 1 / 24

--- The bar containing quarter note `qn` (binary search), or nil outside the list.
function bars.at(measures, qn)
  local lo, hi = 1, #measures
  while lo <= hi do
    local mid = (lo + hi) // 2
    local m = measures[mid]
    if qn < m.start then
      hi = mid - 1
    elseif qn >= m.finish then
      lo = mid + 1
    else
      return mid
    end
  end
  return nil
end

--- The whole bars a selection [a, b) in quarter notes touches: first, last, and whether either
--- end had to move to a bar line. Returns nil and a message for an empty selection.
function bars.snap(measures, a, b)
  if a == nil or b == nil or b - a <= bars.EPSILON then
    return nil, "the time selection is empty: select the bars to write first"
  end
  local first = bars.at(measures, a + bars.EPSILON) or bars.at(measures, a)
  local last = bars.at(measures, b - bars.EPSILON)
  if not first or not last then
    return nil, "the time selection is outside the project's bars"
  end
  local snapped = math.abs(measures[first].start - a) > bars.EPSILON
    or math.abs(measures[last].finish - b) > bars.EPSILON
  return first, last, snapped
end

--- The bars sent to the server: the selection with up to `context` bars either side, within
--- 1..`total` (the project's last bar with content) and at most `limit` bars in all.
function bars.window(first, last, context, total, limit)
  local lo = math.max(1, first - context)
  local hi = math.max(last, math.min(total, last + context))
  if limit and hi - lo + 1 > limit then
    -- Trim context, after the selection first (the past matters more to the model).
    hi = math.max(last, lo + limit - 1)
    lo = math.max(lo, hi - limit + 1)
  end
  return lo, hi
end

--- Meter changes of bars lo..hi as { bar = bar counted from lo (1-based), num, den }; the
--- first entry is always bar 1, so the server never has to assume 4/4.
function bars.meters(measures, lo, hi)
  local out, previous = {}, nil
  for b = lo, hi do
    local m = measures[b]
    local key = m.num .. "/" .. m.den
    if key ~= previous then
      out[#out + 1] = { bar = b - lo + 1, num = m.num, den = m.den }
      previous = key
    end
  end
  return out
end

--- "bars 5-8" or "bar 5", as the undo history and the status line say it.
function bars.label(first, last)
  if first == last then
    return "bar " .. first
  end
  return ("bars %d-%d"):format(first, last)
end

return bars
