-- Argo CD health of any secgroup.io custom resource (CloudAccount,
-- SecurityGroup, PortSecurityGroups, SecurityGroupMembership,
-- NodeSecurityGroups, SecurityGroupRules, and kinds
-- added later), read from its kstatus conditions.
--
-- The controller writes kstatus-compatible status: status.observedGeneration
-- and three conditions, Ready, Reconciling and Stalled, all with the reason
-- of the last pass. The order of the checks below is kstatus's:
--
--   no status yet, or observedGeneration < generation  Progressing
--   Stalled=True (someone must act)                     Degraded
--   Reconciling=True, reason a failed pass               Degraded
--   Reconciling=True, other reasons                      Progressing
--   Ready=True, reason Paused                            Suspended
--   Ready=True (Synced, Observing, ...)                  Healthy
--   Ready=False                                          Degraded
--   no Ready condition                                   Progressing
--
-- Argo CD runs health scripts with only Lua 5.1's base, table and a safe
-- os library, so this uses no string functions: reasons are compared whole.

local hs = {}

-- Reasons with Reconciling=True that mean the last pass failed and is being
-- retried with backoff (a cloud call or a Kubernetes API call failed). They
-- show as Degraded, so a persistent failure is not hidden behind
-- Progressing. Throttled and VersionMismatch are the clouds' flow control
-- (retried after Retry-After, or re-read and re-planned): Progressing.
local failedPass = {
  ApplyFailed = true,
  PlanFailed = true,
  KubernetesAPI = true,
  GroupInUse = true,
  CleanupBlocked = true,
  NotFound = true,
  Conflict = true,
  QuotaExceeded = true,
  InvalidRequest = true,
  LastGroup = true,
  ServerError = true,
  Transport = true,
  Decode = true,
}

local function condition(status, type)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

-- "Reason: message", or whichever of the two is set.
local function describe(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if reason ~= "" then
    return reason
  end
  return message
end

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to report status"
  return hs
end

local generation = obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  if observed == nil then
    hs.message = "Waiting for the controller to observe generation " .. generation
  else
    hs.message = "Waiting for the controller to observe generation " .. generation ..
      " (status is of generation " .. observed .. ")"
  end
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  if reconciling.reason ~= nil and failedPass[reconciling.reason] then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = describe(reconciling)
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  if ready.reason == "Paused" then
    hs.status = "Suspended"
  else
    hs.status = "Healthy"
  end
  hs.message = describe(ready)
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
