-- Argo CD health check for tenancy.io/VersionPolicy
-- (argocd-cm key resource.customizations.health.tenancy.io_VersionPolicy).
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

local function count(value)
  if value == nil then
    return "0"
  end
  return tostring(value)
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to evaluate the policy"
  return hs
end

local ready = condition("Ready")

if stale(ready) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to evaluate generation " .. tostring(obj.metadata.generation)
  return hs
end

if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = describe(ready, "Waiting for the Ready condition")
  return hs
end

if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not evaluated")
  return hs
end

-- The policy is evaluated and enforced: tenants that do not comply are the policy doing its job (they show
-- on the Tenants and the dashboard), so they are counted in the message, not turned into Degraded.
local s = obj.status
hs.status = "Healthy"
hs.message = count(s.tenants) .. " tenant(s): " .. count(s.compliant) .. " compliant, " .. count(s.inGracePeriod)
  .. " in grace period, " .. count(s.nonCompliant) .. " non-compliant"
return hs
