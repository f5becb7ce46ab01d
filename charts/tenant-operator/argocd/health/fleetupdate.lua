-- Argo CD health check for tenancy.io/FleetUpdate
-- (argocd-cm key resource.customizations.health.tenancy.io_FleetUpdate).
-- Argo CD sets the global `obj` to the live object and reads the table this script returns.
-- Only Lua's base and table libraries: Argo CD runs custom checks without string, math and the rest.
local hs = {}

local function condition(name)
  for _, c in ipairs((obj.status or {}).conditions or {}) do
    if c.type == name then
      return c
    end
  end
  return nil
end

local function describe(fallback)
  local s = obj.status or {}
  if s.message ~= nil and s.message ~= "" then
    return s.message
  end
  if s.progress ~= nil and s.progress ~= "" then
    return s.progress
  end
  return fallback
end

-- Until it finishes, the operator records the generation it acted on at every step; once Completed or
-- Stopped it acts on no further change, so only an unfinished update can be waiting for it.
local function stale()
  local generation = obj.metadata.generation
  local observed = obj.status.observedGeneration
  return generation ~= nil and observed ~= nil and observed < generation
end

local phase = (obj.status or {}).phase

if phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the update"
  return hs
end

if phase == "Completed" then
  hs.status = "Healthy"
  hs.message = describe("Completed")
  return hs
end

if phase == "Stopped" then
  -- Too many of a wave's rollouts rolled back or failed (Ready=False, reason FailureThreshold).
  hs.status = "Degraded"
  hs.message = describe("Stopped: a wave crossed the failure threshold")
  return hs
end

if phase ~= "Pending" and phase ~= "Progressing" then
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
  return hs
end

if stale() then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. tostring(obj.metadata.generation)
  return hs
end

-- spec.paused: no new rollouts start (Progressing=False, reason Paused).
local progressing = condition("Progressing")
if progressing ~= nil and progressing.status == "False" and progressing.reason == "Paused" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
hs.message = describe(phase)
return hs
