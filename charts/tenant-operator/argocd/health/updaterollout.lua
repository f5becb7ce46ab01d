-- Argo CD health check for tenancy.io/UpdateRollout
-- (argocd-cm key resource.customizations.health.tenancy.io_UpdateRollout).
-- Argo CD sets the global `obj` to the live object and reads the table this script returns.
-- Only Lua's base and table libraries: Argo CD runs custom checks without string, math and the rest.
--
-- The phase is the truth here: the operator writes status.observedGeneration only when a rollout finishes, and
-- a finished rollout is never picked up again, so an older observedGeneration does not mean "not handled yet".
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
  local message = (obj.status or {}).message
  if message ~= nil and message ~= "" then
    return message
  end
  return fallback
end

-- Waits on a schedule or a person (Progressing=False with these reasons): suspended, like a paused Argo Rollout.
-- Queued is not among them: the rollout starts on its own as soon as the ones ahead of it finish.
local HELD = {AwaitingApproval = true, WaitingForMaintenanceWindow = true, Blackout = true}
local RUNNING = {Preparation = true, Validation = true, TrafficSwitch = true, Monitoring = true}

local phase = (obj.status or {}).phase

if phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the rollout"
  return hs
end

if phase == "Completed" then
  hs.status = "Healthy"
  hs.message = describe("Completed")
elseif phase == "RolledBack" or phase == "Failed" then
  hs.status = "Degraded"
  hs.message = phase .. ": " .. describe("see the UpdateRollout's events")
elseif phase == "Paused" then
  hs.status = "Suspended"
  hs.message = describe("Awaiting approval")
elseif phase == "Pending" then
  local progressing = condition("Progressing")
  if progressing ~= nil and progressing.status == "False" and HELD[progressing.reason] then
    hs.status = "Suspended"
  else
    hs.status = "Progressing"
  end
  hs.message = describe("Pending")
elseif RUNNING[phase] then
  hs.status = "Progressing"
  hs.message = phase .. ": " .. describe(phase)
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
end
return hs
