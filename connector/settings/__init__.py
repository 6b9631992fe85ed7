"""The settings of the faces that run for long (`leadsync daemon`, `leadsync serve`): the
``[daemon]`` and ``[serve]`` tables, kept out of those packages so ``connector.config``
reads them without importing the daemon or the server."""
