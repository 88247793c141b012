//! A small client for MLflow's REST API (`/api/2.0/mlflow/...`) and its artifact proxy
//! (`/api/2.0/mlflow-artifacts/artifacts/...`), over ureq. Every failure says which server and
//! endpoint, and what the server answered.

use std::time::Duration;

use serde_json::{json, Value};

/// Why a request to the tracking server failed.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    #[error("cannot reach the MLflow tracking server at {uri}: {reason} (is `mlflow server` running there? --tracking-uri or MLFLOW_TRACKING_URI names it)")]
    Unreachable { uri: String, reason: String },
    #[error(
        "the MLflow tracking server refused {method} {endpoint}: HTTP {status}{code}: {message}"
    )]
    Refused {
        method: &'static str,
        endpoint: String,
        status: u16,
        /// ` (ERROR_CODE)` when the server named one.
        code: String,
        message: String,
    },
    #[error("the MLflow tracking server's answer to {endpoint} is not what its REST API describes: {reason}")]
    BadAnswer { endpoint: String, reason: String },
    #[error("the MLflow experiment '{mlflow}' exists and is not the log of exp experiment '{experiment}' ({why}); push to another name with --mlflow-experiment")]
    NameTaken {
        mlflow: String,
        experiment: String,
        why: String,
    },
    #[error("{path}: {source}")]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run {run}'s artifacts are stored at {uri}, which this server does not proxy: exp uploads through `mlflow server`'s artifact proxy (mlflow-artifacts:/ locations; `mlflow server --serve-artifacts`, the default since MLflow 2.0)")]
    ArtifactStore { run: String, uri: String },
    #[error("cannot read the log: {0}")]
    Log(String),
}

impl MlflowError {
    /// The MLflow error code of a refusal (`RESOURCE_ALREADY_EXISTS`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            MlflowError::Refused { code, .. } => Some(code.trim_matches([' ', '(', ')'])),
            _ => None,
        }
    }
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `uri` (`http://host:port`, with or without a trailing slash).
    pub fn new(uri: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        Client {
            base: uri.trim_end_matches('/').to_string(),
            agent,
        }
    }

    pub fn uri(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: ureq::Error) -> MlflowError {
        MlflowError::Unreachable {
            uri: self.base.clone(),
            reason: e.to_string(),
        }
    }

    /// The JSON answer of a response, or the refusal it is.
    fn answer(
        &self,
        method: &'static str,
        endpoint: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, MlflowError> {
        let mut response = response.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        let parsed: Option<Value> = serde_json::from_str(&body).ok();
        if !(200..300).contains(&status) {
            let (code, message) = match &parsed {
                Some(v) => (
                    v.get("error_code")
                        .and_then(Value::as_str)
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    v.get("message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| body.clone()),
                ),
                None => (String::new(), not_json_answer(&self.base, &body)),
            };
            return Err(MlflowError::Refused {
                method,
                endpoint: endpoint.to_string(),
                status,
                code,
                message,
            });
        }
        match parsed {
            Some(v) => Ok(v),
            None if body.trim().is_empty() => Ok(json!({})),
            None => Err(MlflowError::BadAnswer {
                endpoint: endpoint.to_string(),
                reason: format!("not JSON: {}", body.chars().take(200).collect::<String>()),
            }),
        }
    }

    /// POST `/api/2.0/mlflow/{endpoint}` with a JSON body.
    pub fn post(&self, endpoint: &str, body: &Value) -> Result<Value, MlflowError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let response = self.agent.post(&url).send_json(body);
        self.answer("POST", endpoint, response)
    }

    /// GET `/api/2.0/mlflow/{endpoint}` with query parameters.
    pub fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, MlflowError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let mut request = self.agent.get(&url);
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        self.answer("GET", endpoint, request.call())
    }

    /// PUT a file's bytes at `path` (below the run's artifact root) through the artifact proxy.
    pub fn put_artifact(&self, root: &str, path: &str, bytes: &[u8]) -> Result<(), MlflowError> {
        let encoded: Vec<String> = path
            .split('/')
            .map(crate::percent::percent_encode)
            .collect();
        let endpoint = format!("mlflow-artifacts/artifacts{root}/{}", encoded.join("/"));
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let response = self.agent.put(&url).send(bytes);
        self.answer("PUT", &endpoint, response).map(|_| ())
    }
}

/// What a non-JSON error body says, briefly: an HTML page means the URI is not MLflow's REST API.
fn not_json_answer(base: &str, body: &str) -> String {
    if body.trim_start().starts_with('<') {
        let title = body
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or("an HTML page");
        format!("{title} (an HTML page, not MLflow's REST API: is {base} the tracking server's root URI?)")
    } else {
        body.chars().take(300).collect()
    }
}

/// A string field of a JSON answer, or a `BadAnswer`.
pub fn field<'a>(v: &'a Value, path: &[&str], endpoint: &str) -> Result<&'a str, MlflowError> {
    let mut at = v;
    for p in path {
        at = at.get(p).ok_or_else(|| MlflowError::BadAnswer {
            endpoint: endpoint.to_string(),
            reason: format!("no `{}`", path.join(".")),
        })?;
    }
    at.as_str().ok_or_else(|| MlflowError::BadAnswer {
        endpoint: endpoint.to_string(),
        reason: format!("`{}` is not a string", path.join(".")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_unreachable_and_names_the_server() {
        // Port 9 (discard) on loopback: nothing listens there on these machines.
        let client = Client::new("http://127.0.0.1:9/");
        let err = client
            .get("experiments/get-by-name", &[("experiment_name", "x")])
            .unwrap_err();
        assert!(matches!(err, MlflowError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("http://127.0.0.1:9"), "{err}");
    }
}
