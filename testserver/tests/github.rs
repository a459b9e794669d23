//! The fake GitHub answers as shared/github-rest says GitHub does: authentication first,
//! pagination with `Link`, 422 for a body over 65,536 characters, rate-limit headers.

mod common;

use berth_testserver::github::{BODY_LIMIT, Fault, GitHubServer};
use common::HttpResponse;
use serde_json::{Value, json};

const TOKEN: &str = "ghs_fake";

/// The answer to one request, its body as JSON (`Null` when empty).
struct Answer {
    status: u16,
    response: HttpResponse,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.response.header(name)
    }
}

fn request(
    gh: &GitHubServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Answer {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = common::send_with(gh.addr(), method, path, headers, body.as_bytes()).unwrap();
    Answer {
        status: response.status,
        body: serde_json::from_slice(&response.body).unwrap_or(Value::Null),
        response,
    }
}

const AUTH: (&str, &str) = ("Authorization", "Bearer ghs_fake");
const UA: (&str, &str) = ("User-Agent", "test");

#[test]
fn authentication_and_a_user_agent_come_first() {
    let gh = GitHubServer::start(TOKEN);
    let path = "/repos/octo/berth-config/issues/1/comments";
    let none = request(&gh, "GET", path, &[UA], None);
    assert_eq!(none.status, 401);
    assert_eq!(none.body["message"], "Requires authentication");
    let wrong = request(
        &gh,
        "GET",
        path,
        &[("Authorization", "Bearer nope"), UA],
        None,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["message"], "Bad credentials");
    let no_agent = request(&gh, "GET", path, &[AUTH], None);
    assert_eq!(no_agent.status, 403);
    let old_style = request(
        &gh,
        "GET",
        path,
        &[("Authorization", "token ghs_fake"), UA],
        None,
    );
    assert_eq!(old_style.status, 200);
    assert_eq!(old_style.header("x-ratelimit-limit"), Some("1000"));
    assert!(old_style.header("x-ratelimit-reset").is_some());
    assert_eq!(old_style.header("x-ratelimit-resource"), Some("core"));
}

#[test]
fn lists_are_paginated_with_link_headers_carrying_per_page() {
    let gh = GitHubServer::start(TOKEN);
    for i in 0..5 {
        gh.seed_comment(1, "ana", &format!("c{i}"));
    }
    let path = "/repos/octo/berth-config/issues/1/comments";
    let all = request(&gh, "GET", path, &[AUTH, UA], None);
    assert_eq!(all.body.as_array().unwrap().len(), 5);
    assert_eq!(all.header("link"), None, "one page: no Link");
    let first = request(&gh, "GET", &format!("{path}?per_page=2"), &[AUTH, UA], None);
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    let base = format!("{}{path}", gh.api_url());
    assert_eq!(
        first.header("link").unwrap(),
        format!(
            "<{base}?per_page=2&page=2>; rel=\"next\", <{base}?per_page=2&page=3>; rel=\"last\""
        )
    );
    let last = request(
        &gh,
        "GET",
        &format!("{path}?per_page=2&page=3"),
        &[AUTH, UA],
        None,
    );
    assert_eq!(last.body[0]["body"], "c4");
    assert_eq!(
        last.header("link").unwrap(),
        format!(
            "<{base}?per_page=2&page=2>; rel=\"prev\", <{base}?per_page=2&page=1>; rel=\"first\""
        )
    );
}

#[test]
fn comments_are_created_updated_deleted_and_too_long_bodies_refused() {
    let gh = GitHubServer::start(TOKEN);
    let path = "/repos/octo/berth-config/issues/1/comments";
    let created = request(&gh, "POST", path, &[AUTH, UA], Some(&json!({"body": "hi"})));
    assert_eq!(created.status, 201);
    let url = created.body["url"].as_str().unwrap();
    assert_eq!(created.header("location"), Some(url));
    assert_eq!(created.body["user"]["type"], "Bot");
    let id = created.body["id"].as_u64().unwrap();
    let one = format!("/repos/octo/berth-config/issues/comments/{id}");

    let long = "x".repeat(BODY_LIMIT + 1);
    let refused = request(
        &gh,
        "PATCH",
        &one,
        &[AUTH, UA],
        Some(&json!({"body": long})),
    );
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["message"], "Validation Failed");
    assert_eq!(
        refused.body["errors"][0]["message"],
        "Body is too long (maximum is 65536 characters)"
    );
    let at_limit = "x".repeat(BODY_LIMIT);
    assert_eq!(
        request(
            &gh,
            "POST",
            path,
            &[AUTH, UA],
            Some(&json!({"body": at_limit}))
        )
        .status,
        201
    );

    assert_eq!(
        request(
            &gh,
            "PATCH",
            &one,
            &[AUTH, UA],
            Some(&json!({"body": "bye"}))
        )
        .status,
        200
    );
    assert_eq!(gh.comments(1)[0].body, "bye");
    let deleted = request(&gh, "DELETE", &one, &[AUTH, UA], None);
    assert_eq!((deleted.status, deleted.body.clone()), (204, Value::Null));
    assert_eq!(request(&gh, "GET", &one, &[AUTH, UA], None).status, 404);
    assert_eq!(
        request(
            &gh,
            "GET",
            "/repos/other/repo/issues/1/comments",
            &[AUTH, UA],
            None
        )
        .status,
        404
    );
}

#[test]
fn rate_limits_when_told_to() {
    let gh = GitHubServer::start(TOKEN);
    let path = "/repos/octo/berth-config/issues/1/comments";
    gh.fail_next(
        Fault::RateLimit {
            status: 429,
            retry_after: Some(30),
            reset_in: None,
        },
        1,
    );
    gh.fail_next(
        Fault::RateLimit {
            status: 403,
            retry_after: None,
            reset_in: Some(60),
        },
        1,
    );
    let secondary = request(&gh, "GET", path, &[AUTH, UA], None);
    assert_eq!(secondary.status, 429);
    assert_eq!(secondary.header("retry-after"), Some("30"));
    assert!(
        secondary.body["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );
    let primary = request(&gh, "GET", path, &[AUTH, UA], None);
    assert_eq!(primary.status, 403);
    assert_eq!(primary.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(request(&gh, "GET", path, &[AUTH, UA], None).status, 200);
}
