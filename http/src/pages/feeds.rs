//! What crawlers and feed readers read: a profile's Atom feed, the sitemap of public
//! pages and `robots.txt`. Public projects only, as everywhere a visitor looks.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use poem::{
    Request, Response, handler,
    web::{Data, Path},
};
use serde::Serialize;

use super::{
    Audience, PageLinks, Rendered, page_result, render,
    render::{project_path, public_project_path},
    username_of,
};
use crate::{EdgeState, error::ApiError};

/// A sitemap holds at most 50 000 URLs (sitemaps.org); the newest changes come first.
const SITEMAP_URLS: u64 = 50_000;

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `/@{username}/feed.atom`: the user's newest public projects.
#[handler]
pub async fn atom(req: &Request, Data(state): Data<&EdgeState>, Path(handle): Path<String>) -> Response {
    #[derive(Serialize)]
    struct Entry {
        id: uuid::Uuid,
        title: String,
        url: String,
        published: String,
        updated: String,
        summary: String,
        tags: Vec<String>,
    }
    let result = async {
        let username = username_of(&handle)?;
        let profile = state.profiles.public(username, None).await.map_err(ApiError::from)?;
        let links = PageLinks::new(state);
        let public: Vec<_> = profile.projects.iter().filter(|p| p.visibility.is_public()).collect();
        let updated = public.iter().map(|p| p.updated_at).max().unwrap_or(profile.created_at);
        let entries: Vec<Entry> = public
            .iter()
            .map(|p| Entry {
                id: p.id,
                title: p.title.clone(),
                url: links.absolute(project_path(p)),
                published: stamp(p.published_at.unwrap_or(p.created_at)),
                updated: stamp(p.updated_at),
                summary: p.description.clone(),
                tags: p.tags.clone(),
            })
            .collect();
        let name = profile
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| profile.username.clone());
        let body = render(
            "feed.xml",
            minijinja::context! {
                name,
                self_url => links.absolute(format!("/@{}/feed.atom", profile.username)),
                profile_url => links.absolute(format!("/@{}", profile.username)),
                updated => stamp(updated),
                entries,
            },
        )?;
        Ok(Rendered {
            content_type: "application/atom+xml; charset=utf-8",
            ..Rendered::html(body, Audience::Everyone)
        })
    }
    .await;
    page_result(state, req, result)
}

/// `/sitemap.xml`: the home page, every profile with public work and every public
/// project, each with when it last changed.
#[handler]
pub async fn sitemap(req: &Request, Data(state): Data<&EdgeState>) -> Response {
    #[derive(Serialize)]
    struct Url {
        loc: String,
        lastmod: Option<String>,
    }
    let result = async {
        let pages = state
            .projects
            .public_pages(SITEMAP_URLS / 2)
            .await
            .map_err(ApiError::from)?;
        let links = PageLinks::new(state);
        let mut profiles: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        for page in &pages {
            let newest = profiles.entry(page.username.as_str()).or_insert(page.updated_at);
            *newest = (*newest).max(page.updated_at);
        }
        let mut urls = vec![Url {
            loc: links.absolute("/"),
            lastmod: pages.iter().map(|p| p.updated_at).max().map(stamp),
        }];
        urls.extend(profiles.iter().map(|(username, at)| Url {
            loc: links.absolute(format!("/@{username}")),
            lastmod: Some(stamp(*at)),
        }));
        urls.extend(pages.iter().map(|page| Url {
            loc: links.absolute(public_project_path(
                &page.username,
                page.slug.as_deref(),
                page.project_id,
            )),
            lastmod: Some(stamp(page.updated_at)),
        }));
        let body = render("sitemap.xml", minijinja::context! { urls })?;
        Ok(Rendered {
            content_type: "application/xml; charset=utf-8",
            ..Rendered::html(body, Audience::Everyone)
        })
    }
    .await;
    page_result(state, req, result)
}

/// `/robots.txt`: pages are for everyone; the API, the console and search result pages
/// are not for crawlers.
#[handler]
pub async fn robots(req: &Request, Data(state): Data<&EdgeState>) -> Response {
    let links = PageLinks::new(state);
    let body = format!(
        "User-agent: *\nAllow: /\nDisallow: /admin\nDisallow: /auth/\nDisallow: /profile/\nDisallow: /projects/\nDisallow: /events\nDisallow: /search\nDisallow: /docs\n\nSitemap: {}\n",
        links.absolute("/sitemap.xml")
    );
    page_result(
        state,
        req,
        Ok(Rendered {
            content_type: "text/plain; charset=utf-8",
            ..Rendered::html(body, Audience::Everyone)
        }),
    )
}
