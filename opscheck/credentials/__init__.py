"""The deployment's configuration: where its values come from, and the rules they must meet.

Values come from the process environment (the CI job that deploys has them) or from
``[credentials] env_file``. Every secret value is registered with the redactor the moment it is read. No
message here contains a value, not even a prefix: a message names the variable and the rule, and describes
the value only by its properties. Each rule is a function returning a :class:`~findings.Finding` (met,
broken, or not applicable with a reason); :func:`~findings.enforce` turns it into the check's verdict.

==============  ===========================================================================================
``sources``     the env file or the process environment (:func:`load_source`, :class:`CredentialSource`)
``findings``    :class:`Finding`, :func:`enforce`, and the wording findings share
``values``      rules judged from a value alone: ``set`` / ``placeholder``; NEXTAUTH_SECRET's
                ``key-material``, ``entropy``, ``deny-list``; NEXTAUTH_URL's ``absolute`` … ``host``;
                SENTRY_DSN's ``format``, ``no-secret-key``; MAINTENANCE_MODE's ``off-in-production``
``database``    DATABASE_URL's ``parses`` … ``sslmode``; :func:`probe_credentials` (the database accepts it),
                :func:`role_privileges` (its role is not a superuser, cannot create roles or databases)
``aws``         :class:`AwsAccess`: STS accepts the credentials, the access key's age, the backup bucket's
                protections
``reuse``       :func:`find_reuse`: no secret value shared by two environments, compared by keyed hash
``exposure``    :func:`scan_site`: no secret value, raw or base64, in the public HTML or the
                ``/_next/static`` JavaScript it references
==============  ===========================================================================================

Nothing is re-exported here: importing one module (say ``values``, which the auth rules use) does not load
boto3 or psycopg, which ``aws`` and ``database`` need.
"""
