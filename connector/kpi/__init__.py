"""KPIs of the lead funnel: pure figures over rows the store gives (no store, no clock).

``costs`` reads the campaigns' costs file; ``period`` is the days and months a report
covers; ``figures`` the rates and money ratios, each with its basis; ``margin`` a period's
new customers' margin; ``report`` puts them together as `leadsync kpi` prints them.
"""
