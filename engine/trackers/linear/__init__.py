"""Linear over its GraphQL API (httpx), behind the tracker interface."""
