-- Argo CD health check for tenancy.io/Tenant (argocd-cm key resource.customizations.health.tenancy.io_Tenant).
-- Argo CD sets the global `obj` to the live object and reads the table this script returns.
-- Only Lua's base and table libraries: Argo CD runs custom checks without string, math and the rest.
local hs = {}

local function condition(name)
  for _, c in ipairs(obj.status.conditions or {}) do
    if c.type == name then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil then
    return c.reason
  end
  return fallback
end

-- The generation the status was written for: the Ready condition's, else status.observedGeneration.
local function stale(ready)
  local observed = obj.status.observedGeneration
  if ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration > 0 then
    observed = ready.observedGeneration
  end
  local generation = obj.metadata.generation
  return generation ~= nil and observed ~= nil and observed < generation
end

-- Ready=False with these reasons is a phase announced while the work is under way, not a failure.
local TRANSITIONAL = {Provisioning = true, Decommissioning = true}

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the tenant"
  return hs
end

local ready = condition("Ready")
local phase = obj.status.phase

if stale(ready) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(obj.metadata.generation)
  return hs
end

if phase == "Failed" or (ready ~= nil and ready.status == "False" and not TRANSITIONAL[ready.reason]) then
  hs.status = "Degraded"
  hs.message = describe(ready, "Tenant failed")
  return hs
end

if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(ready, "Tenant is suspended")
  return hs
end

if phase == nil or phase == "Provisioning" or phase == "Decommissioning" then
  hs.status = "Progressing"
  hs.message = describe(ready, "Waiting for the operator to reconcile the tenant")
  return hs
end

if phase == "Active" then
  if ready ~= nil and ready.status == "True" then
    hs.status = "Healthy"
  else
    hs.status = "Progressing"
  end
  hs.message = describe(ready, "Waiting for the Ready condition")
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(phase)
return hs
