"""Every GraphQL document the engine sends to Linear, in one place.

Hand-written rather than generated: we use a dozen fields, and a unit test validates each document
against Linear's published schema, so a field or enum value Linear would reject fails there first.
Page sizes are variables; `first` must stay at or below 250 (Linear's maximum).
"""

from __future__ import annotations

# Linear rejects a query whose complexity exceeds 10,000 points (an object costs 1, a scalar 0.1,
# and a connection multiplies what it selects by `first`). 50 issues a page with 20 relations
# each way costs about 5,000; a unit test recomputes every document's worst case.
PAGE_SIZE = 50
RELATION_PAGE = 20
MAX_FIRST = 250
MAX_COMPLEXITY = 10_000

_ISSUE_FIELDS = """
fragment IssueFields on Issue {
  id
  identifier
  title
  description
  priority
  state { id type }
  relations(first: $relFirst) {
    nodes { id type relatedIssue { id } }
    pageInfo { hasNextPage endCursor }
  }
  inverseRelations(first: $relFirst) {
    nodes { id type issue { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# One round trip for the team, its workflow states and the project of that name.
TEAM = """
query Team($key: String!, $project: String!) {
  teams(filter: {key: {eq: $key}}, first: 1) {
    nodes {
      id
      key
      name
      states(first: 100) { nodes { id name type position } }
      projects(filter: {name: {eq: $project}}, first: 10) { nodes { id name } }
    }
  }
}
"""

TEAM_KEYS = """
query TeamKeys($first: Int!, $after: String) {
  teams(first: $first, after: $after) {
    nodes { key }
    pageInfo { hasNextPage endCursor }
  }
}
"""

PROJECT_CREATE = """
mutation ProjectCreate($input: ProjectCreateInput!) {
  projectCreate(input: $input) { success project { id name } }
}
"""

PROJECT_ISSUES = (
    """
query ProjectIssues($id: String!, $first: Int!, $after: String, $relFirst: Int!) {
  project(id: $id) {
    issues(first: $first, after: $after) {
      nodes { ...IssueFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + _ISSUE_FIELDS
)

TEAM_ISSUES = (
    """
query TeamIssues($id: String!, $first: Int!, $after: String, $relFirst: Int!) {
  team(id: $id) {
    issues(first: $first, after: $after) {
      nodes { ...IssueFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + _ISSUE_FIELDS
)

# The rest of one issue's relations, when it has more than fit in the page above.
ISSUE_RELATIONS = """
query IssueRelations($id: String!, $first: Int!, $after: String) {
  issue(id: $id) {
    relations(first: $first, after: $after) {
      nodes { id type relatedIssue { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

ISSUE_INVERSE_RELATIONS = """
query IssueInverseRelations($id: String!, $first: Int!, $after: String) {
  issue(id: $id) {
    inverseRelations(first: $first, after: $after) {
      nodes { id type issue { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# Which of these ids exist: after a batch failed on "already exists" or its answer was lost.
ISSUES_BY_ID = """
query IssuesById($ids: [ID!]!, $first: Int!) {
  issues(filter: {id: {in: $ids}}, first: $first) {
    nodes { id identifier title description priority state { id type } }
  }
}
"""

ISSUE_BATCH_CREATE = """
mutation IssueBatchCreate($input: IssueBatchCreateInput!) {
  issueBatchCreate(input: $input) {
    success
    issues { id identifier title description priority state { id type } }
  }
}
"""

ISSUE_CREATE = """
mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) {
    success
    issue { id identifier title description priority state { id type } }
  }
}
"""

ISSUE_UPDATE = """
mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) {
    success
    issue { id identifier state { id type } }
  }
}
"""

# The labels an issue of the team may carry: the team's own and the workspace's (no team).
# Groups and retired labels come back too; `remote.read_labels` leaves them out.
ISSUE_LABELS = """
query IssueLabels($teamId: ID!, $first: Int!, $after: String) {
  issueLabels(
    filter: {or: [{team: {id: {eq: $teamId}}}, {team: {null: true}}]}
    first: $first
    after: $after
  ) {
    nodes { id name isGroup retiredAt team { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

ISSUE_LABEL_CREATE = """
mutation IssueLabelCreate($input: IssueLabelCreateInput!) {
  issueLabelCreate(input: $input) { success issueLabel { id name } }
}
"""

RELATION_CREATE = """
mutation IssueRelationCreate($input: IssueRelationCreateInput!) {
  issueRelationCreate(input: $input) { success issueRelation { id type } }
}
"""

RELATION_DELETE = """
mutation IssueRelationDelete($id: String!) {
  issueRelationDelete(id: $id) { success }
}
"""

COMMENT_CREATE = """
mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}
"""

ALL: dict[str, str] = {
    "TEAM": TEAM,
    "TEAM_KEYS": TEAM_KEYS,
    "PROJECT_CREATE": PROJECT_CREATE,
    "PROJECT_ISSUES": PROJECT_ISSUES,
    "TEAM_ISSUES": TEAM_ISSUES,
    "ISSUE_RELATIONS": ISSUE_RELATIONS,
    "ISSUE_INVERSE_RELATIONS": ISSUE_INVERSE_RELATIONS,
    "ISSUES_BY_ID": ISSUES_BY_ID,
    "ISSUE_BATCH_CREATE": ISSUE_BATCH_CREATE,
    "ISSUE_CREATE": ISSUE_CREATE,
    "ISSUE_UPDATE": ISSUE_UPDATE,
    "ISSUE_LABELS": ISSUE_LABELS,
    "ISSUE_LABEL_CREATE": ISSUE_LABEL_CREATE,
    "RELATION_CREATE": RELATION_CREATE,
    "RELATION_DELETE": RELATION_DELETE,
    "COMMENT_CREATE": COMMENT_CREATE,
}
