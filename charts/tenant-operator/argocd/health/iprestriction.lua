-- Argo CD health check for tenancy.io/IpRestriction
-- (argocd-cm key resource.customizations.health.tenancy.io_IpRestriction).
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
  hs.message = "Waiting for the operator to enforce the restrictions"
  return hs
end

local ready = condition("Ready")

if stale(ready) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to enforce generation " .. tostring(obj.metadata.generation)
  return hs
end

if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = describe(ready, "Waiting for the Ready condition")
  return hs
end

if ready.status == "False" then
  -- TenantNotReady: the tenant or its namespaces do not exist yet; the operator retries until they do.
  if ready.reason == "TenantNotReady" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = describe(ready, "Not enforced")
  return hs
end

-- Enforced (or disabled on purpose with spec.enabled: false). A failed change notice does not weaken the
-- restrictions themselves: it is reported in the message only.
hs.status = "Healthy"
hs.message = describe(ready, "Enforced")
local notified = condition("NotificationsSent")
if notified ~= nil and notified.status == "False" then
  hs.message = hs.message .. "; change notifications not delivered (" .. describe(notified, "DeliveryFailed") .. ")"
end
return hs
