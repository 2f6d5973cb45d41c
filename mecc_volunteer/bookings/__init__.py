"""A booking's life, below the areas that act on it: the volunteers' journey, coordinators' rosters and
sessions, and the evaluation all change bookings through `lifecycle` and mail their people through `emails`."""
