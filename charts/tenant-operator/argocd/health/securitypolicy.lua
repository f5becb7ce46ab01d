-- Argo CD health check for tenancy.io/SecurityPolicy
-- (argocd-cm key resource.customizations.health.tenancy.io_SecurityPolicy).
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

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to propagate the policy"
  return hs
end

local ready = condition("Ready")

if stale(ready) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to propagate generation " .. tostring(obj.metadata.generation)
  return hs
end

if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = describe(ready, "Waiting for the Ready condition")
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Propagated")
else
  hs.status = "Degraded"
  hs.message = describe(ready, "Not propagated")
end
return hs
