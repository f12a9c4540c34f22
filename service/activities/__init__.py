"""Meetings, activities and training: what a branch holds, who attended, the hours it credits;
and the committee's zone-wide activities that members of every branch join."""
