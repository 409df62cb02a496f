//! `pods/eviction`: deleting a pod only if its PodDisruptionBudget allows
//! it (as `kubectl drain` does): the budget's disruptionsAllowed is taken
//! down by one and the pod recorded in its disruptedPods (compare-and-swap)
//! before the pod is marked a disruption target and deleted; 429
//! TooManyRequests when the budget allows no disruption.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::delete::delete_one;
use super::{Request, json as respond};
use crate::deletion::DeleteOptions;
use crate::object::{is_terminating, now_rfc3339, resource_version, uid};
use crate::registry::Resource;
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};

/// More pending evictions than this in a budget's disruptedPods and evictions are refused.
const MAX_DISRUPTED_POD_SIZE: usize = 2000;
/// How often a lost race with another writer is retried.
const RETRIES: usize = 20;

/// POST of a policy/v1 Eviction.
pub async fn evict(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let pods = &request.target.resource;
    let name = request.target.name()?;
    let namespace = request.target.ns().unwrap_or_default();
    let eviction = request.json_body()?;
    if eviction.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default() != name {
        return Err(ApiError::bad_request("name in URL does not match name in Eviction object"));
    }
    let delete_options = eviction.get("deleteOptions").cloned().unwrap_or_else(|| json!({}));
    let body_dry_run =
        delete_options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
    let dry_run = super::field_validation::dry_run(request)? || body_dry_run;
    let options = DeleteOptions::parse(&delete_options, |_| None)?;
    let eviction = Eviction { state, pods, namespace, name, options, dry_run };
    eviction.run().await?;
    let status = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 });
    Ok(respond(StatusCode::CREATED, &status))
}

/// One eviction request.
struct Eviction<'a> {
    state: &'a ApiState,
    pods: &'a Resource,
    namespace: &'a str,
    name: &'a str,
    options: DeleteOptions,
    dry_run: bool,
}

impl Eviction<'_> {
    async fn run(&self) -> ApiResult<()> {
        let user_precondition = self.options.resource_version.is_some();
        let mut attempts = 0;
        let pod = loop {
            let pod = self.state.objects.get(self.pods, Some(self.namespace), self.name).await?;
            if !can_ignore_budget(&pod) {
                break pod;
            }
            // Finished, pending or terminating pods disrupt nothing more: deleted directly.
            let mut options = self.options.clone();
            if should_enforce_resource_version(&pod) && !user_precondition {
                options.resource_version = resource_version(&pod).map(str::to_owned);
            }
            match self.delete(options).await {
                Err(e) if e.code == 409 && !user_precondition && attempts < RETRIES => attempts += 1,
                result => return result,
            }
        };
        let budgets = self.budgets_of(&pod).await?;
        if budgets.len() > 1 {
            let message =
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
            return Err(ApiError::new(500, "", message));
        }
        let Some(budget) = budgets.into_iter().next() else {
            return self.delete(self.options.clone()).await;
        };
        let budget_name = crate::object::name(&budget).unwrap_or_default().to_owned();
        let int = |pointer: &str| budget.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
        let (current, desired) = (int("/status/currentHealthy"), int("/status/desiredHealthy"));
        let always_allow =
            budget.pointer("/spec/unhealthyPodEvictionPolicy").and_then(Value::as_str) == Some("AlwaysAllow");
        // An unready pod does not count as healthy: evicting it takes nothing from the budget,
        // as long as the pod stays unready (a resourceVersion precondition).
        let unready_allowed = !is_ready(&pod) && (always_allow || (current >= desired && desired > 0));
        let mut options = self.options.clone();
        if unready_allowed {
            options.resource_version = resource_version(&pod).map(str::to_owned);
        } else {
            self.check_and_decrement(&budget_name).await?;
        }
        match self.delete(options).await {
            Err(e) if e.code == 409 && unready_allowed && !user_precondition => Err(still_processing(&budget_name)),
            result => result,
        }
    }

    /// The budgets in the pod's namespace whose (non-empty) selectors select it.
    async fn budgets_of(&self, pod: &Value) -> ApiResult<Vec<Value>> {
        let resource = self.budget_resource()?;
        let page = self.state.objects.list(resource, Some(self.namespace), None, None, None).await?;
        let labels = crate::object::labels(pod).cloned().unwrap_or_default();
        Ok(page
            .items
            .into_iter()
            .filter(|b| b.pointer("/spec/selector").is_some_and(|s| selects(s, &labels)))
            .collect())
    }

    fn budget_resource(&self) -> ApiResult<&Resource> {
        self.state.registry.get("policy", "v1", "poddisruptionbudgets").ok_or_else(ApiError::no_such_path)
    }

    /// Takes one disruption from the budget and records the pod as disrupted
    /// (re-read and retried on conflicts); 429 when it allows none.
    async fn check_and_decrement(&self, budget_name: &str) -> ApiResult<()> {
        let resource = self.budget_resource()?;
        let pod_name = self.name.to_owned();
        let now = now_rfc3339();
        let decrement = |mut budget: Value| {
            let int = |pointer: &str| budget.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
            let generation = int("/metadata/generation");
            let (allowed, current, desired) =
                (int("/status/disruptionsAllowed"), int("/status/currentHealthy"), int("/status/desiredHealthy"));
            if int("/status/observedGeneration") < generation {
                return Err(still_processing(budget_name));
            }
            if allowed < 0 {
                return Err(forbidden(budget_name, "pdb disruptions allowed is negative"));
            }
            let disrupted = budget.pointer("/status/disruptedPods").and_then(Value::as_object).map_or(0, Map::len);
            if disrupted > MAX_DISRUPTED_POD_SIZE {
                let why = "DisruptedPods map too big - too many evictions not confirmed by PDB controller";
                return Err(forbidden(budget_name, why));
            }
            if allowed == 0 {
                let cause = format!(
                    "The disruption budget {budget_name} needs {desired} healthy pods and has {current} currently"
                );
                return Err(too_many_requests(&cause, 0));
            }
            if self.dry_run {
                return Ok(None);
            }
            let Some(status) = budget.get_mut("status").and_then(Value::as_object_mut) else {
                return Err(ApiError::new(500, "InternalError", "Internal error occurred: the budget has no status"));
            };
            status.insert("disruptionsAllowed".into(), json!(allowed - 1));
            if allowed - 1 == 0 {
                set_insufficient_pods(status, &now);
            }
            let disrupted = status.entry("disruptedPods").or_insert_with(|| json!({}));
            if !disrupted.is_object() {
                *disrupted = json!({});
            }
            if let Some(pods) = disrupted.as_object_mut() {
                pods.insert(pod_name.clone(), json!(now));
            }
            Ok(Some(budget))
        };
        self.state.update_object(resource, Some(self.namespace), budget_name, decrement).await.map(drop)
    }

    /// Marks the pod a disruption target (unless a dry run) and deletes it with `options`.
    async fn delete(&self, mut options: DeleteOptions) -> ApiResult<()> {
        if self.dry_run {
            self.state.objects.get(self.pods, Some(self.namespace), self.name).await?;
            return Ok(());
        }
        let conflict = |why: String| ApiError::conflict_because(self.pods, self.name, &why);
        let preconditions = options.clone();
        let mark = |mut pod: Value| {
            if let Some(want) = &preconditions.uid
                && uid(&pod) != Some(want.as_str())
            {
                let found = uid(&pod).unwrap_or_default();
                return Err(conflict(format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {found}"
                )));
            }
            if let Some(want) = &preconditions.resource_version
                && resource_version(&pod) != Some(want.as_str())
            {
                let found = resource_version(&pod).unwrap_or_default();
                return Err(conflict(format!(
                    "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {found}"
                )));
            }
            Ok(set_disruption_target(&mut pod).then_some(pod))
        };
        let updated = self.state.update_object(self.pods, Some(self.namespace), self.name, mark).await?;
        if options.resource_version.is_some() {
            options.resource_version = resource_version(&updated).map(str::to_owned);
        }
        delete_one(self.state, self.pods, Some(self.namespace), self.name, &options, false).await.map(drop)
    }
}

/// Pods whose eviction cannot disrupt anything more: finished, pending, or being deleted.
fn can_ignore_budget(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending") || is_terminating(pod)
}

/// Pods whose deletion must not race with their becoming ready.
fn should_enforce_resource_version(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !is_terminating(pod)
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending")
}

fn condition<'a>(pod: &'a Value, type_: &str) -> Option<&'a Value> {
    pod.pointer("/status/conditions")?.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn is_ready(pod: &Value) -> bool {
    condition(pod, "Ready").and_then(|c| c.get("status")).and_then(Value::as_str) == Some("True")
}

/// Sets DisruptionTarget=True (EvictionByEvictionAPI); whether it changed.
fn set_disruption_target(pod: &mut Value) -> bool {
    let wanted = json!({ "type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                         "message": "Eviction API: evicting", "lastProbeTime": null, "lastTransitionTime": now_rfc3339() });
    let Some(object) = pod.as_object_mut() else { return false };
    let status = object.entry("status").or_insert_with(|| json!({}));
    let Some(status) = status.as_object_mut() else { return false };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(conditions) = conditions.as_array_mut() else { return false };
    let text = |c: &Value, field: &str| c.get(field).and_then(Value::as_str).map(str::to_owned);
    match conditions.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionTarget")) {
        None => conditions.push(wanted),
        Some(existing) if text(existing, "status").as_deref() != Some("True") => *existing = wanted,
        Some(existing) => {
            if text(existing, "reason") == text(&wanted, "reason")
                && text(existing, "message") == text(&wanted, "message")
            {
                return false;
            }
            if let Some(existing) = existing.as_object_mut() {
                existing.insert("reason".into(), wanted["reason"].clone());
                existing.insert("message".into(), wanted["message"].clone());
            }
        }
    }
    true
}

/// DisruptionAllowed=False (InsufficientPods), the transition time moving only with the status.
fn set_insufficient_pods(status: &mut Map<String, Value>, now: &str) {
    let generation = status.get("observedGeneration").cloned().unwrap_or(Value::Null);
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(conditions) = conditions.as_array_mut() else { return };
    let wanted = json!({ "type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": "",
                         "observedGeneration": generation, "lastTransitionTime": now });
    match conditions.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed")) {
        None => conditions.push(wanted),
        Some(existing) => {
            let transition = match existing.get("status").and_then(Value::as_str) {
                Some("False") => existing.get("lastTransitionTime").cloned().unwrap_or_else(|| json!(now)),
                _ => json!(now),
            };
            *existing = wanted;
            existing["lastTransitionTime"] = transition;
        }
    }
}

/// Whether a LabelSelector (matchLabels, matchExpressions) selects the labels;
/// an empty selector selects nothing here, as upstream's eviction has it.
fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    if match_labels.is_none_or(Map::is_empty) && expressions.is_none_or(Vec::is_empty) {
        return false;
    }
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let labels_match = match_labels.into_iter().flatten().all(|(k, v)| label(k) == v.as_str());
    labels_match
        && expressions.into_iter().flatten().all(|expression| {
            let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match expression.get("operator").and_then(Value::as_str).unwrap_or_default() {
                "In" => label(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        })
}

/// 429 TooManyRequests with a DisruptionBudget cause.
fn too_many_requests(cause: &str, retry_after: i64) -> ApiError {
    let mut details = json!({ "causes": [{ "reason": "DisruptionBudget", "message": cause }] });
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: "Cannot evict pod as it would violate the pod's disruption budget.".to_owned(),
        details: Some(details),
    }
}

/// 429 while the disruption controller has not caught up with the budget.
fn still_processing(budget: &str) -> ApiError {
    too_many_requests(&format!("The disruption budget {budget} is still being processed by the server."), 10)
}

/// 403 about a budget, as errors.NewForbidden(policy.Resource("poddisruptionbudget"), ...).
fn forbidden(budget: &str, why: &str) -> ApiError {
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!("poddisruptionbudget.policy \"{budget}\" is forbidden: {why}"),
        details: Some(json!({ "name": budget, "group": "policy", "kind": "poddisruptionbudget" })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_need_labels_or_expressions_and_match_both() {
        let labels = json!({ "app": "web", "tier": "front" });
        let labels = labels.as_object().expect("labels");
        assert!(!selects(&json!({}), labels), "an empty selector selects nothing");
        assert!(selects(&json!({ "matchLabels": { "app": "web" } }), labels));
        assert!(!selects(&json!({ "matchLabels": { "app": "db" } }), labels));
        let expression = |op: &str, values: Value| json!({ "matchExpressions": [{ "key": "tier", "operator": op, "values": values }] });
        assert!(selects(&expression("In", json!(["front", "back"])), labels));
        assert!(!selects(&expression("NotIn", json!(["front"])), labels));
        assert!(selects(&expression("Exists", json!([])), labels));
        assert!(!selects(&expression("DoesNotExist", json!([])), labels));
    }

    #[test]
    fn the_disruption_target_condition_is_set_once() {
        let mut pod = json!({ "status": { "conditions": [{ "type": "Ready", "status": "True" }] } });
        assert!(set_disruption_target(&mut pod));
        assert!(!set_disruption_target(&mut pod));
        let target = condition(&pod, "DisruptionTarget").expect("the condition");
        assert_eq!(target["reason"], "EvictionByEvictionAPI");
        assert_eq!(target["message"], "Eviction API: evicting");
    }

    #[test]
    fn budgets_going_to_zero_say_insufficient_pods_keeping_an_earlier_false_transition() {
        let mut status = json!({ "observedGeneration": 3, "conditions": [
            { "type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods", "lastTransitionTime": "t0" }] });
        let map = status.as_object_mut().expect("status");
        set_insufficient_pods(map, "t1");
        assert_eq!(map["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(map["conditions"][0]["lastTransitionTime"], "t1");
        assert_eq!(map["conditions"][0]["observedGeneration"], 3);
        set_insufficient_pods(map, "t2");
        assert_eq!(map["conditions"][0]["lastTransitionTime"], "t1");
    }

    #[test]
    fn refusals_carry_upstreams_messages_and_causes() {
        let error = too_many_requests("The disruption budget web needs 2 healthy pods and has 2 currently", 0);
        let status = error.status();
        assert_eq!(status["code"], 429);
        assert_eq!(status["reason"], "TooManyRequests");
        assert_eq!(status["message"], "Cannot evict pod as it would violate the pod's disruption budget.");
        assert_eq!(status["details"]["causes"][0]["reason"], "DisruptionBudget");
        assert!(status["details"].get("retryAfterSeconds").is_none());
        assert_eq!(still_processing("web").status()["details"]["retryAfterSeconds"], 10);
        let negative = forbidden("web", "pdb disruptions allowed is negative");
        assert_eq!(
            negative.message,
            "poddisruptionbudget.policy \"web\" is forbidden: pdb disruptions allowed is negative"
        );
    }
}
