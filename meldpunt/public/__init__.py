"""The public's pages: the policy, the published key (download, WKD), security.txt,
published advisories (HTML, Atom, the CSAF provider tree) and the hall of fame."""
